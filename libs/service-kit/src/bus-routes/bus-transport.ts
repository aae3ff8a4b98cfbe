import { Server, type CustomTransportStrategy, type MessageHandler } from '@nestjs/microservices';
import { isObservable, lastValueFrom, type Observable } from 'rxjs';
import type { MessageMeta } from '@deepinfer/messaging';
import type { BusHandlers } from '../bus-handlers.js';
import { BusContext } from './bus-context.js';
import { bindRoute, routeNamed, type BoundHandler, type RouteBindingOptions, type RouteInstances } from './route-binding.js';

/** Identifies the transport (a handler may name it in `@MessagePattern(name, BUS_TRANSPORT)`). */
export const BUS_TRANSPORT = Symbol('DeepInferBus');

export interface BusTransportOptions {
  readonly handlers: BusHandlers;
  /** The instances this service owns (see RouteInstances). */
  readonly instances: RouteInstances;
}

/**
 * Nest's microservice transport over our MessageBus: every `@MessagePattern`/`@EventPattern`
 * (`@ServeRoute`/`@ListenRoute`) handler's pattern is a route name, served (request route) or
 * listened to (event route) through BusHandlers at this service's instance. The bus keeps its
 * subjects, its envelope and its validation: a handler gets the validated message and a
 * BusContext; what it returns (value, Promise or Observable: its last value) is the reply; what
 * it throws reaches the bus unchanged (BusErrorFilter), so a ProtocolError is the same error
 * envelope as before and anything else is `internal`. A pattern that names no route, or a
 * per-instance route whose instance this service does not own, fails listen() (start-up).
 *
 * Nest's own request path (`handleRequest`/`send`: a pattern lookup with JSON.parse, an
 * Observable and a nextTick per reply) is bypassed: the handler Nest built (guards, pipes,
 * interceptors, filters) is called directly.
 */
export class BusTransport extends Server implements CustomTransportStrategy {
  override readonly transportId = BUS_TRANSPORT;

  constructor(private readonly options: BusTransportOptions) {
    super();
  }

  /** Binds every registered handler; reports the first unknown pattern or missing instance as the error. */
  listen(callback: (err?: unknown, ...rest: unknown[]) => void): void {
    try {
      for (const [pattern, handler] of this.messageHandlers) {
        const route = routeNamed(pattern);
        if (route.kind === 'request' && handler.isEventHandler) throw new Error(`route ${route.name} is a request route: use @MessagePattern/@ServeRoute, not @EventPattern`);
        if (route.kind === 'event' && !handler.isEventHandler) throw new Error(`route ${route.name} is an event route: use @EventPattern/@ListenRoute, not @MessagePattern`);
        const options = (handler.extras ?? {}) as RouteBindingOptions;
        bindRoute(this.options.handlers, route, this.options.instances, options, route.kind === 'request' ? requestHandler(handler) : eventHandler(handler));
      }
      this._status$.next('connected');
    } catch (err) {
      callback(err);
      return;
    }
    callback();
  }

  /** Unsubscribes every bus handler of the service (BusHandlers is the one place subscriptions end). */
  close(): void {
    this.options.handlers.close();
    this._status$.next('disconnected');
  }

  /** The transport has no events of its own (the connection's are MessageBus's, logged there): refused rather than ignored. */
  on(event: string): never {
    throw new Error(`BusTransport emits no events (asked for ${JSON.stringify(event)}); watch the NATS connection through MessageBus`);
  }

  /** The BusHandlers the routes are bound through. */
  unwrap<T>(): T {
    return this.options.handlers as T;
  }
}

/** A request handler: Nest's (value, Promise or Observable) → the reply; an error passes through. (Exported for bus-dispatch-bench.) */
export function requestHandler(handler: MessageHandler): BoundHandler {
  return async (request: unknown, meta: MessageMeta) => settle(await handler(request, new BusContext([meta.subject])));
}

/** An event handler: the bus runs it in arrival order and logs a rejection. (Exported for bus-dispatch-bench.) */
export function eventHandler(handler: MessageHandler): BoundHandler {
  return (message: unknown, meta: MessageMeta) => handler(message, new BusContext([meta.subject])).then(settle);
}

/** A handler's result: its value, or an Observable's last value (an error thrown as is). */
function settle(result: unknown): unknown {
  return isObservable(result) ? lastValueFrom(result as Observable<unknown>, { defaultValue: undefined }) : result;
}
