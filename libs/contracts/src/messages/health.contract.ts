import { Type, type Static } from '@sinclair/typebox';
import { defineMessage, EmptyObject, OneOf, Opt } from '../message.js';
import { SERVICE_NAMES } from '../services.js';

/** Routes.health / Routes.healthAll. An empty object today; reserved for probes' options. */
export const HealthRequest = defineMessage('HealthRequest', EmptyObject);
export type HealthRequest = Static<typeof HealthRequest.schema>;

export const HEALTH_STATUSES = ['ok', 'starting', 'degraded'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

/** Reply to HealthRequest: who answered, and whether it can serve. */
export const HealthReply = defineMessage(
  'HealthReply',
  Type.Object({
    service: OneOf(SERVICE_NAMES),
    /** Unique per process start: tells restarts and replicas apart. */
    instanceId: Type.String(),
    /** `ok` serves; `starting` is loading (model, tokenizer); `degraded` lost a dependency. */
    status: OneOf(HEALTH_STATUSES),
    uptimeSeconds: Type.Number(),
    version: Type.String(),
    /** Free-form, service-specific facts (model, device, queue length). */
    details: Opt(Type.Record(Type.String(), Type.Unknown())),
  }),
);
export type HealthReply = Static<typeof HealthReply.schema>;
