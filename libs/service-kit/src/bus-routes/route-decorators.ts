import { Ctx, EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import type { EventRoute, RequestRoute } from '@deepinfer/contracts';
import type { Observable } from 'rxjs';
import type { BusContext } from './bus-context.js';
import type { RouteBindingOptions } from './route-binding.js';

/** A request route's handler: the route's validated request in, its reply out (a value, a Promise or an Observable's last value). */
export type ServeMethod<Req, Res> = (request: Req, context: BusContext) => Res | Promise<Res> | Observable<Res>;
/** An event route's handler: the route's validated message. */
export type ListenMethod<M> = (message: M, context: BusContext) => void | Promise<void>;

/** A method decorator that checks the method against a route's messages (a wrong request or reply type is a compile error). */
export type RouteMethodDecorator<F> = <Method extends F>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<Method>) => void;

/**
 * `@ServeRoute(Routes.tokenizerEncode)`: Nest's `@MessagePattern(route.name)`, typed by the
 * route. BusTransport serves the route at this service's instance (per-instance routes) and
 * replies with what the method returns; a thrown ProtocolError is the error reply, as on the bus.
 */
export function ServeRoute<Req, Res>(route: RequestRoute<Req, Res>): RouteMethodDecorator<ServeMethod<Req, Res>> {
  assertKind(route, 'request', 'ServeRoute');
  return (target, key, descriptor) => {
    MessagePattern(route.name)(target, key, descriptor as PropertyDescriptor);
    handlerParameters(target, key);
  };
}

/**
 * `@ListenRoute(Routes.schedulerAbort)`: Nest's `@EventPattern(route.name)`, typed by the route;
 * `{ everyInstance: true }` listens at every instance's subject (the api hears every replica).
 */
export function ListenRoute<M>(route: EventRoute<M>, options: RouteBindingOptions = {}): RouteMethodDecorator<ListenMethod<M>> {
  assertKind(route, 'event', 'ListenRoute');
  return (target, key, descriptor) => {
    EventPattern(route.name, { ...options })(target, key, descriptor as PropertyDescriptor);
    handlerParameters(target, key);
  };
}

/** Where `@BusRoute` keeps its route on the method. */
export const BUS_ROUTE_METADATA = 'deepinfer:bus-route';

/** What `@BusRoute` records on a method. */
export interface BusRouteMetadata {
  readonly name: string;
  readonly options: RouteBindingOptions;
}

/**
 * `@BusRoute(Routes.executorStep)`: the hot path's handlers (step, step outputs, deltas), bound
 * straight to the bus (BusHandlers) rather than through Nest's microservice dispatch, which
 * costs more than 2 % of the CPU per token at concurrency 1 (docs/adr/0002). Same typing and
 * instance rules as ServeRoute/ListenRoute; bootstrapService finds these methods on every
 * provider and controller at start (BusRouteExplorer) and binds them with the others.
 */
export function BusRoute<Req, Res>(route: RequestRoute<Req, Res>): RouteMethodDecorator<ServeMethod<Req, Res>>;
export function BusRoute<M>(route: EventRoute<M>, options?: RouteBindingOptions): RouteMethodDecorator<ListenMethod<M>>;
export function BusRoute(route: RequestRoute<unknown, unknown> | EventRoute<unknown>, options: RouteBindingOptions = {}): RouteMethodDecorator<ServeMethod<never, unknown> | ListenMethod<never>> {
  return (_target, key, descriptor) => {
    if (typeof descriptor.value !== 'function') throw new Error(`@BusRoute(${route.name}) decorates a method, not ${String(key)}`);
    const metadata: BusRouteMetadata = { name: route.name, options: { ...options } };
    Reflect.defineMetadata(BUS_ROUTE_METADATA, metadata, descriptor.value);
  };
}

/** The method's parameters are (message, BusContext), as the typed signature says, without `@Payload()`/`@Ctx()` on each. */
function handlerParameters(target: object, key: string | symbol): void {
  Payload()(target, key, 0);
  Ctx()(target, key, 1);
}

function assertKind(route: { kind: string; name: string }, kind: 'request' | 'event', decorator: string): void {
  if (route.kind !== kind) throw new Error(`@${decorator}(${route.name}): ${route.name} is a ${route.kind} route`);
}
