import type { OnModuleDestroy } from '@nestjs/common';
import type { Address, EventRoute, Pattern, RequestRoute } from '@deepinfer/contracts';
import type { EventHandler, ListenOptions, MessageBus, RequestHandler } from '@deepinfer/messaging';

interface Unsubscribable {
  unsubscribe(): void;
}

/**
 * The one way a service wires its handlers to the bus: every route it serves or listens to
 * goes through here, and every subscription made here ends when the application shuts down
 * (Nest's module destroy, or bootstrapService's close before the connection drains), so a
 * stopping service takes no new work while its providers are torn down. Handlers are declared
 * on Nest classes (`@ServeRoute`/`@ListenRoute`, bound by BusTransport; `@BusRoute`, the hot
 * path, bound by bindBusRoutes) and both bind them here.
 */
export class BusHandlers implements OnModuleDestroy {
  private readonly subscriptions: { name: string; subject: string; subscription: Unsubscribable }[] = [];
  private closed = false;
  private markServing!: () => void;
  private readonly serving = new Promise<void>((resolve) => (this.markServing = resolve));

  constructor(private readonly bus: MessageBus) {}

  /**
   * Resolves once bootstrapService has bound every declared handler (`@ServeRoute`,
   * `@ListenRoute`, `@BusRoute`) and the server has them: a service that announces itself (the
   * executor registering its step subject) waits for it.
   */
  whenServing(): Promise<void> {
    return this.serving;
  }

  /** bootstrapService: every declared handler is bound and flushed. */
  servingStarted(): void {
    this.markServing();
  }

  /** Serves a request route (its queue group unless `options.queue`). */
  serve<Req, Res>(to: Address<RequestRoute<Req, Res>>, handler: RequestHandler<Req, Res>, options?: ListenOptions): void {
    this.track(to.route.name, to.subject, this.bus.serve(to, handler, options));
  }

  /** Listens on an event route, at one instance or every instance. */
  listen<M>(to: Address<EventRoute<M>> | Pattern<EventRoute<M>>, handler: EventHandler<M>, options?: ListenOptions): void {
    this.track(to.route.name, 'wildcard' in to ? to.wildcard : to.subject, this.bus.listen(to, handler, options));
  }

  /** What is subscribed now: route name and subject (tests and the admin view read it). */
  get active(): readonly { name: string; subject: string }[] {
    return this.subscriptions.map(({ name, subject }) => ({ name, subject }));
  }

  /** Subscribes the server side before callers are let in (other connections see it after this). */
  async flush(): Promise<void> {
    await this.bus.flush();
  }

  /** Unsubscribes everything (idempotent); later serve/listen calls are refused. */
  close(): void {
    this.closed = true;
    for (const { subscription } of this.subscriptions.splice(0)) {
      try {
        subscription.unsubscribe();
      } catch {
        // The connection is already closed: nothing left to unsubscribe.
      }
    }
  }

  onModuleDestroy(): void {
    this.close();
  }

  private track(name: string, subject: string, subscription: Unsubscribable): void {
    if (this.closed) {
      subscription.unsubscribe();
      throw new Error(`bus handlers are closed: cannot subscribe ${name} (${subject})`);
    }
    this.subscriptions.push({ name, subject, subscription });
  }
}
