import type { INestApplicationContext } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { MessageMeta } from '@deepinfer/messaging';
import type { BusHandlers } from '../bus-handlers.js';
import { BusContext } from './bus-context.js';
import { BUS_ROUTE_METADATA, type BusRouteMetadata } from './route-decorators.js';
import { bindRoute, routeNamed, type RouteInstances } from './route-binding.js';

/**
 * Binds every `@BusRoute` method of the application's providers and controllers straight to the
 * bus (BusHandlers), with the instance rules of BusTransport. The bound function calls the
 * method directly: no Nest dispatch, no context object unless the method takes one. Returns the
 * names of the routes it bound.
 */
export function bindBusRoutes(app: INestApplicationContext, handlers: BusHandlers, instances: RouteInstances): string[] {
  const discovery = app.get(DiscoveryService);
  const scanner = new MetadataScanner();
  const seen = new Set<object>();
  const bound: string[] = [];
  for (const wrapper of [...discovery.getControllers(), ...discovery.getProviders()]) {
    const instance: unknown = wrapper.instance;
    if (typeof instance !== 'object' || instance === null || seen.has(instance) || !wrapper.isDependencyTreeStatic()) continue;
    seen.add(instance);
    const prototype = Object.getPrototypeOf(instance) as Record<string, unknown> | null;
    if (!prototype) continue;
    for (const key of scanner.getAllMethodNames(prototype)) {
      const method = prototype[key];
      if (typeof method !== 'function') continue;
      const metadata = Reflect.getMetadata(BUS_ROUTE_METADATA, method) as BusRouteMetadata | undefined;
      if (!metadata) continue;
      const fn = (method as (message: unknown, context?: BusContext) => unknown).bind(instance);
      const handler = fn.length >= 2 ? (message: unknown, meta: MessageMeta) => fn(message, new BusContext([meta.subject])) : (message: unknown) => fn(message);
      bindRoute(handlers, routeNamed(metadata.name), instances, metadata.options, handler);
      bound.push(metadata.name);
    }
  }
  return bound;
}
