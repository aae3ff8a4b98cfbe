import { ClientProxy, type ReadPacket, type WritePacket } from '@nestjs/microservices';
import type { Address, AnyRoute, EventRoute, RequestRoute } from '@deepinfer/contracts';
import type { MessageBus, RequestOptions } from '@deepinfer/messaging';
import { routeNamed } from './route-binding.js';

/**
 * Nest's ClientProxy over our MessageBus, for Nest-style callers (`client.send(pattern, data)`
 * → Observable): `send` is `bus.call` (request routes), `emit` is `bus.emit` (event routes).
 * The pattern is a route name (global routes), a route, or an address (`Routes.x.at(id)`, what a
 * per-instance route needs). Validation, subjects and the envelope are the bus's: a reply is
 * validated against the route, a refusal is the same ProtocolError `call` throws.
 *
 * The services themselves call `MessageBus.call`/`emit` (typed by the route at compile time;
 * `send`'s data and result are not): this client is for code written against Nest's client API.
 * The connection belongs to bootstrapService: connect() and close() neither open nor close it.
 */
export class BusClient extends ClientProxy {
  constructor(
    private readonly bus: MessageBus,
    private readonly requestOptions: RequestOptions = {},
  ) {
    super();
  }

  connect(): Promise<void> {
    return Promise.resolve();
  }

  /** The connection is bootstrapService's: nothing to close here. */
  close(): void {}

  unwrap<T>(): T {
    return this.bus as T;
  }

  protected publish(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    let address: Address<RequestRoute<unknown, unknown>>;
    try {
      address = addressIn<RequestRoute<unknown, unknown>>(packet, 'request');
    } catch (err) {
      callback({ err, isDisposed: true });
      return () => undefined;
    }
    this.bus.call(address, packet.data, this.requestOptions).then(
      (response) => callback({ response, isDisposed: true }),
      (err: unknown) => callback({ err, isDisposed: true }),
    );
    // A request on the bus cannot be withdrawn: unsubscribing only stops listening to it.
    return () => undefined;
  }

  protected dispatchEvent<T = unknown>(packet: ReadPacket): Promise<T> {
    try {
      this.bus.emit(addressIn<EventRoute<unknown>>(packet, 'event'), packet.data);
      return Promise.resolve(undefined as T);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }
}

/** The address a packet's pattern names; refuses a route of the other kind, a per-instance route without its instance, and packet metadata (the bus carries none). */
function addressIn<R extends AnyRoute>(packet: ReadPacket, kind: R['kind']): Address<R> {
  if (packet.metadata && Object.keys(packet.metadata).length > 0) {
    throw new Error('BusClient carries no packet metadata (the bus sends the message and the protocol header only)');
  }
  const pattern: unknown = packet.pattern;
  const address = (typeof pattern === 'object' && pattern !== null && 'route' in pattern ? pattern : routeNamed(typeof pattern === 'object' && pattern !== null && 'name' in pattern ? pattern.name : pattern)) as Address<R> & { subject?: string };
  const route = address.route ?? (address as unknown as AnyRoute);
  if (route.kind !== kind) throw new Error(`route ${route.name} is a ${route.kind} route: use ${route.kind === 'request' ? 'send' : 'emit'}`);
  if (typeof address.subject !== 'string') throw new Error(`route ${route.name} is per ${route.instance}: pass its address (Routes.${route.name}.at(id)) as the pattern`);
  return address;
}
