import { Routes, type Address, type AnyRoute, type EventRoute, type Pattern, type RequestRoute } from '@deepinfer/contracts';
import type { EventHandler, MessageMeta, RequestHandler } from '@deepinfer/messaging';
import type { BusHandlers } from '../bus-handlers.js';

/**
 * The instance ids a service owns, by a route's `instance` (`service`, `replicaId`,
 * `executorId`, `tokenizerInstanceId`, `apiInstanceId`): a handler of a per-instance route is
 * served at this service's own instance. bootstrapService fills `service`; a module provides the
 * rest under ROUTE_INSTANCES (the tokenizer its `tokenizerInstanceId`, the scheduler its
 * `replicaId`, …). A handler of a per-instance route whose instance is missing here is a
 * start-up error, never a silent subscription at the wrong subject.
 */
export type RouteInstances = Readonly<Record<string, string>>;

/** Nest token of a module's RouteInstances (optional; merged over bootstrapService's own). */
export const ROUTE_INSTANCES = Symbol('RouteInstances');

/** How a handler is bound besides its route. */
export interface RouteBindingOptions {
  /** Event routes only: listen at every instance's subject (`Routes.x.everyInstance`), e.g. the api's router hears every replica. */
  readonly everyInstance?: boolean;
}

/** The route registered under `name` (a route's stable name, the handler's pattern); a clear error when there is none. */
export function routeNamed(name: unknown): AnyRoute {
  if (typeof name !== 'string' || !Object.prototype.hasOwnProperty.call(Routes, name)) {
    throw new Error(`no route is named ${JSON.stringify(name)}: a bus handler's pattern must be a route name from contracts' Routes (${Object.keys(Routes).join(', ')})`);
  }
  return Routes[name as keyof typeof Routes];
}

/** The one handler signature both kinds are bound with (the route's kind says which the bus calls). */
export type BoundHandler = (message: unknown, meta: MessageMeta) => unknown;

/**
 * Serves (request route) or listens to (event route) `route` through BusHandlers, at the
 * instance this service owns (or every instance, for an event route with `everyInstance`).
 * Throws at once, naming the route, when the instance is missing or the options do not fit
 * the route: start-up fails rather than the service listening at the wrong subject.
 */
export function bindRoute(handlers: BusHandlers, route: AnyRoute, instances: RouteInstances, options: RouteBindingOptions, handler: BoundHandler): void {
  if (options.everyInstance) {
    if (route.kind !== 'event' || route.instance === undefined) {
      throw new Error(`route ${route.name}: everyInstance is only for per-instance event routes`);
    }
    const pattern = (route as unknown as { everyInstance: Pattern<EventRoute<unknown>> }).everyInstance;
    handlers.listen(pattern, handler as EventHandler<unknown>);
    return;
  }
  const address = addressOf(route, instances);
  if (route.kind === 'request') handlers.serve(address as Address<RequestRoute<unknown, unknown>>, handler as RequestHandler<unknown, unknown>);
  else handlers.listen(address as Address<EventRoute<unknown>>, handler as EventHandler<unknown>);
}

/** The route's address at this service's own instance (a global route is its own address). */
export function addressOf(route: AnyRoute, instances: RouteInstances): Address<AnyRoute> {
  if (route.instance === undefined) return route as unknown as Address<AnyRoute>;
  const id = Object.prototype.hasOwnProperty.call(instances, route.instance) ? instances[route.instance] : undefined;
  if (!id) {
    const owned = Object.entries(instances).map(([kind, value]) => `${kind}=${value}`).join(', ') || 'none';
    throw new Error(`route ${route.name} (${route.pattern}) is per ${route.instance}, and this service owns no ${route.instance} (its instances: ${owned})`);
  }
  return (route as unknown as { at(instance: string): Address<AnyRoute> }).at(id);
}
