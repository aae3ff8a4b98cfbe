import { Type, type Static } from '@sinclair/typebox';
import { defineMessage, EmptyObject, OneOf } from '../message.js';
import { SERVICE_NAMES } from '../services.js';

/** Routes.stats. An empty object today. */
export const StatsRequest = defineMessage('StatsRequest', EmptyObject);
export type StatsRequest = Static<typeof StatsRequest.schema>;

/**
 * Reply to StatsRequest: one instance's admin snapshot, the same body its admin HTTP route
 * serves (scheduler: `GET /stats`, executor: `GET /executor`). Plain data whose shape belongs to
 * the answering service; readers take what they know and tolerate the rest (a newer or older
 * replica may answer).
 */
export const StatsReply = defineMessage(
  'StatsReply',
  Type.Object({
    service: OneOf(SERVICE_NAMES),
    instanceId: Type.String(),
    stats: Type.Record(Type.String(), Type.Unknown()),
  }),
  // The snapshot is the service's own shape: kept whole (Value.Clean would keep it too; this
  // skips the walk over a large snapshot).
  { unknownFields: 'keep' },
);
export type StatsReply = Static<typeof StatsReply.schema>;
