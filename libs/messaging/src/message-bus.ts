import { connect, createInbox, headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  decodeMessage,
  ErrorCodes,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  ProtocolError,
  type Address,
  type EventRoute,
  type Message,
  type Pattern,
  type Reply,
  type RequestRoute,
} from '@deepinfer/contracts';
import type { Logger } from '@deepinfer/observability';

export interface BusOptions {
  url: string;
  /** Connection name shown by nats-server's monitoring (e.g. `scheduler-3f2a`). */
  name: string;
  user?: string;
  password?: string;
  logger: Logger;
  /** How long `connect` keeps trying before it gives up (the server may still be starting). */
  connectTimeoutMs?: number;
}

export interface ListenOptions {
  /**
   * Queue group: one member of the group gets each message. Default: the route's (serve), none
   * (listen): every subscriber hears every message.
   */
  queue?: string;
}

export interface RequestOptions {
  timeoutMs?: number;
}

export interface GatherOptions {
  /** How long replies are collected (every instance answers within it or is left out). */
  windowMs?: number;
}

/** What a handler learns about the message besides its body. */
export interface MessageMeta {
  subject: string;
}

const encoder = new TextEncoder();
const DEFAULT_REQUEST_TIMEOUT_MS = 5000;

/** A request waiting for its reply on the bus's inbox. */
interface PendingRequest {
  readonly subject: string;
  readonly resolve: (msg: Msg) => void;
  readonly reject: (err: ProtocolError) => void;
  readonly timer: NodeJS.Timeout;
}

/** A request handler: the route's request in, its reply out (or a thrown ProtocolError). */
export type RequestHandler<Req, Res> = (request: Req, meta: MessageMeta) => Promise<Res> | Res;
/** An event handler. */
export type EventHandler<M> = (message: M, meta: MessageMeta) => void | Promise<void>;

/**
 * Typed, validated messaging over one raw NATS connection, by route (contracts' Routes): a
 * route states its subject, its messages and its queue group, so `call(Routes.x, request)` is
 * type-checked on both ends and validated on both ends. Every request handler replies with an
 * envelope (`Reply<T>`), and a malformed message gets an error reply, never an exception that
 * escapes; on event routes a malformed message is dropped with one warning; a malformed reply
 * is a ProtocolError(internal) naming the route.
 *
 * Why not @nestjs/microservices: its NATS transport wraps every payload in its own envelope and
 * turns object patterns into JSON-string subjects; we want plain versioned subjects that any
 * client (and the hot path's binary encodings) can use, and one place that validates.
 */
export class MessageBus {
  private readonly warnedSubjects = new Set<string>();
  private numDroppedMessages = 0;
  /**
   * Requests go out with reply subject `<inbox>.<n>`; one wildcard subscription on `<inbox>.*`
   * hears every reply. (nats.js's own request() builds three Error objects with stack traces, a
   * Promise.race and a timer per call: ~0.1–0.2 ms of the scheduler's CPU per step on this
   * machine, see docs/performance.md "Serving".)
   */
  private readonly inbox = createInbox();
  private readonly pending = new Map<string, PendingRequest>();
  /** Gathers (one request, every responder's reply) collecting until their window ends. */
  private readonly gathering = new Map<string, (msg: Msg) => void>();
  private nextRequestToken = 0;
  /** Header set shared by every message we send (never mutated after construction). */
  private readonly protocolHeaders = protocolHeaders();

  private constructor(
    readonly connection: NatsConnection,
    private readonly logger: Logger,
  ) {
    void this.watchStatus();
    this.connection.subscribe(`${this.inbox}.*`, { callback: (err, msg) => this.onReply(err, msg) });
    void this.connection.closed().then(() => this.failPending('the NATS connection is closed'));
  }

  static async connect(options: BusOptions): Promise<MessageBus> {
    const deadline = Date.now() + (options.connectTimeoutMs ?? 10000);
    for (;;) {
      try {
        const nc = await connect({
          servers: options.url,
          name: options.name,
          user: options.user,
          pass: options.password,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          timeout: 2000,
          // No Error (with its stack trace) built ahead of every request and subscription.
          noAsyncTraces: true,
        });
        options.logger.debug('connected to NATS', { url: options.url });
        return new MessageBus(nc, options.logger);
      } catch (err) {
        if (Date.now() > deadline) {
          throw new Error(`cannot connect to NATS at ${options.url}: ${(err as Error).message}`, { cause: err });
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** Messages dropped because they were malformed (publish-only subjects). */
  get droppedMessageCount(): number {
    return this.numDroppedMessages;
  }

  /**
   * Serves a request route at its address: decodes and validates the request, runs the handler,
   * and replies `{ok: true, data}` or `{ok: false, error}`. Joins the route's queue group.
   */
  serve<Req, Res>(to: Address<RequestRoute<Req, Res>>, handler: RequestHandler<Req, Res>, options: ListenOptions = {}): Subscription {
    const subject = to.subject;
    const message = to.route.request;
    return this.connection.subscribe(subject, {
      queue: options.queue ?? to.queue,
      callback: (err, msg) => {
        if (err) {
          this.logger.error('subscription failed', { subject, err });
          return;
        }
        void this.serveOne(msg, message, handler);
      },
    });
  }

  private async serveOne<Req, Res>(msg: Msg, definition: Message<Req>, handler: RequestHandler<Req, Res>): Promise<void> {
    if (!msg.reply) {
      this.warnOnce(msg.subject, 'request published without a reply subject; dropped');
      return;
    }
    let reply: Reply<Res>;
    try {
      checkProtocol(msg.headers);
      const request = decodeMessage(definition, msg.data);
      reply = { ok: true, data: await handler(request, { subject: msg.subject }) };
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.logger.debug('request refused', { subject: msg.subject, code: err.code, message: err.message });
        reply = { ok: false, error: err.toBody() };
      } else {
        this.logger.error('handler failed', { subject: msg.subject, err });
        reply = { ok: false, error: { code: ErrorCodes.internal, message: `internal error: ${err instanceof Error ? err.message : String(err)}` } };
      }
    }
    try {
      msg.respond(encoder.encode(JSON.stringify(reply)));
    } catch (err) {
      this.logger.warn('reply failed', { subject: msg.subject, err });
    }
  }

  /**
   * Sends a request on a route and returns the reply's data, validated against the route's
   * reply. Throws ProtocolError: the handler's own error, `unavailable` when nobody serves the
   * subject or the reply does not come within the timeout (so callers fail fast rather than
   * hang), `internal` when the reply breaks the route's reply schema.
   */
  async call<Req, Res>(to: Address<RequestRoute<Req, Res>>, request: Req, options: RequestOptions = {}): Promise<Res> {
    const data = await this.request(to.subject, request as object, options);
    try {
      return to.route.reply.validate(data);
    } catch (err) {
      throw new ProtocolError(ErrorCodes.internal, `malformed reply on route ${to.route.name} (${to.subject}): ${(err as Error).message}`);
    }
  }

  /** Sends a request and returns the reply envelope's data, unvalidated (see call). */
  private async request(subject: string, payload: object, options: RequestOptions): Promise<unknown> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const msg = await this.send(subject, encoder.encode(JSON.stringify(payload)), timeoutMs);
    let envelope: Reply<unknown>;
    try {
      envelope = msg.json<Reply<unknown>>();
    } catch {
      throw new ProtocolError(ErrorCodes.internal, `reply on ${subject} is not JSON`);
    }
    if (typeof envelope !== 'object' || envelope === null || typeof envelope.ok !== 'boolean') {
      throw new ProtocolError(ErrorCodes.internal, `reply on ${subject} is not a reply envelope`);
    }
    if (!envelope.ok) {
      throw new ProtocolError(envelope.error?.code ?? ErrorCodes.internal, envelope.error?.message ?? 'unknown error', envelope.error?.param);
    }
    return envelope.data;
  }

  /**
   * Sends one request to every instance serving a route without a queue group (e.g.
   * Routes.healthAll) and returns the valid replies that arrive within the window, in arrival
   * order. Nobody listening, error envelopes and replies that break the route's reply schema
   * are left out (an admin view lists who answered); never throws a transport error.
   */
  async gather<Req, Res>(to: Address<RequestRoute<Req, Res>>, request: Req, options: GatherOptions = {}): Promise<Res[]> {
    const subject = to.subject;
    const payload = request as object;
    const reply = to.route.reply;
    const windowMs = options.windowMs ?? 250;
    const token = String(++this.nextRequestToken);
    const replies: Res[] = [];
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, windowMs);
      this.gathering.set(token, (msg) => {
        // nats-server's no-responders status: nobody will answer, stop waiting.
        if (msg.data.length === 0 && msg.headers?.code === 503) {
          clearTimeout(timer);
          resolve();
          return;
        }
        try {
          const envelope = msg.json<Reply<unknown>>();
          if (envelope?.ok !== true) return;
          replies.push(reply.validate(envelope.data));
        } catch (err) {
          this.warnOnce(subject, `a reply to a gather was dropped: ${(err as Error).message}`);
        }
      });
    });
    try {
      this.connection.publish(subject, encoder.encode(JSON.stringify(payload)), { reply: `${this.inbox}.${token}`, headers: this.protocolHeaders });
      await done;
    } catch (err) {
      this.warnOnce(subject, `a gather failed: ${(err as Error).message}`);
    } finally {
      this.gathering.delete(token);
    }
    return replies;
  }

  /** Publishes a request with a reply subject on our inbox; settles with the reply or a transport ProtocolError. */
  private send(subject: string, data: Uint8Array, timeoutMs: number): Promise<Msg> {
    return new Promise<Msg>((resolve, reject) => {
      const token = String(++this.nextRequestToken);
      const timer = setTimeout(() => {
        if (this.pending.delete(token)) reject(new ProtocolError(ErrorCodes.unavailable, `no reply on ${subject} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(token, { subject, resolve, reject, timer });
      try {
        this.connection.publish(subject, data, { reply: `${this.inbox}.${token}`, headers: this.protocolHeaders });
      } catch (err) {
        this.pending.delete(token);
        clearTimeout(timer);
        reject(new ProtocolError(ErrorCodes.unavailable, `request on ${subject} failed: ${(err as Error).message}`));
      }
    });
  }

  private onReply(err: Error | null, msg: Msg): void {
    if (err) {
      this.failPending(`the reply subscription failed: ${err.message}`);
      return;
    }
    const token = msg.subject.slice(this.inbox.length + 1);
    const request = this.pending.get(token);
    if (!request) {
      this.gathering.get(token)?.(msg);
      return; // a gather's reply, or a request that timed out meanwhile
    }
    this.pending.delete(token);
    clearTimeout(request.timer);
    // nats-server answers a request nobody listens to with an empty 503 status message.
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      request.reject(new ProtocolError(ErrorCodes.unavailable, `no service is answering on ${request.subject}`));
      return;
    }
    request.resolve(msg);
  }

  private failPending(reason: string): void {
    for (const [token, request] of this.pending) {
      this.pending.delete(token);
      clearTimeout(request.timer);
      request.reject(new ProtocolError(ErrorCodes.unavailable, `request on ${request.subject} failed: ${reason}`));
    }
  }

  /** Fire-and-forget publish of an event route's message. */
  emit<M>(to: Address<EventRoute<M>>, message: M): void {
    this.connection.publish(to.subject, encoder.encode(JSON.stringify(message)), { headers: this.protocolHeaders });
  }

  /**
   * Listens on an event route (one instance's address, or every instance's pattern). A
   * malformed message is dropped: one warning per subject, then only counted, so a misbehaving
   * publisher cannot flood the log or crash the service.
   */
  listen<M>(to: Address<EventRoute<M>> | Pattern<EventRoute<M>>, handler: EventHandler<M>, options: ListenOptions = {}): Subscription {
    const subject = 'wildcard' in to ? to.wildcard : to.subject;
    const definition = to.route.message;
    return this.connection.subscribe(subject, {
      queue: options.queue,
      callback: (err, msg) => {
        if (err) {
          this.logger.error('subscription failed', { subject, err });
          return;
        }
        let message: M;
        try {
          checkProtocol(msg.headers);
          message = decodeMessage(definition, msg.data);
        } catch (decodeErr) {
          this.numDroppedMessages++;
          this.warnOnce(subject, `dropped a malformed message: ${(decodeErr as Error).message}`);
          return;
        }
        // Called at once (no microtask hop): handlers run in arrival order either way.
        try {
          const done = handler(message, { subject: msg.subject });
          if (done instanceof Promise) done.catch((handlerErr: unknown) => this.logger.error('message handler failed', { subject, err: handlerErr }));
        } catch (handlerErr) {
          this.logger.error('message handler failed', { subject, err: handlerErr });
        }
      },
    });
  }

  /** Resolves once the server has processed everything sent so far (e.g. new subscriptions). */
  async flush(): Promise<void> {
    await this.connection.flush();
  }

  /** Flushes what is pending and closes the connection. */
  async close(): Promise<void> {
    if (this.connection.isClosed()) return;
    try {
      await this.connection.drain();
    } catch {
      await this.connection.close();
    }
  }

  private warnOnce(subject: string, message: string): void {
    if (this.warnedSubjects.has(subject)) return;
    this.warnedSubjects.add(subject);
    this.logger.warn(message, { subject, note: 'further problems on this subject are counted, not logged' });
  }

  private async watchStatus(): Promise<void> {
    for await (const status of this.connection.status()) {
      if (status.type === 'disconnect') this.logger.warn('lost NATS connection; reconnecting', { server: status.server });
      else if (status.type === 'reconnect') this.logger.info('reconnected to NATS', { server: status.server });
    }
  }
}

function protocolHeaders(): MsgHdrs {
  const h = natsHeaders();
  h.set(PROTOCOL_HEADER, String(PROTOCOL_VERSION));
  return h;
}

/** Messages without the header are accepted (plain `nats req` debugging); a wrong one is not. */
function checkProtocol(h: MsgHdrs | undefined): void {
  const version = h?.get(PROTOCOL_HEADER);
  if (version && version !== String(PROTOCOL_VERSION)) {
    throw new ProtocolError(ErrorCodes.protocolMismatch, `sender speaks protocol ${version}, this service speaks ${PROTOCOL_VERSION}`);
  }
}
