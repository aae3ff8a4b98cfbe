// Public API of @deepinfer/kv-router: routing requests over data-parallel replicas by prefix-cache
// overlap and load (the api's side), and the KV-event batcher (the scheduler's side). Framework-free.
export { KvIndex, MAX_INDEXED_REPLICAS } from './kv-index.js';
export { KvRouter, DEFAULT_OVERLAP_WEIGHT, ROUTING_POLICIES, type RoutingPolicy, type KvRouterOptions, type RouteRequest, type RouteDecision, type RouteReason, type ReplicaView, type RouterEffect } from './kv-router.js';
export { KvEventBatcher, type KvEventBatcherOptions } from './kv-event-batcher.js';
