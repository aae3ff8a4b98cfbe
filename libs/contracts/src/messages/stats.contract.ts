import { IsIn, IsObject, IsString } from 'class-validator';
import { SERVICE_NAMES, type ServiceName } from '../subjects.js';

/** Subject: Subjects.stats(service). An empty object today. */
export class StatsRequest {}

/**
 * Reply to StatsRequest: one instance's admin snapshot, the same body its admin HTTP route
 * serves (scheduler: `GET /stats`, executor: `GET /executor`). Plain data whose shape belongs to
 * the answering service; readers take what they know and tolerate the rest (a newer or older
 * replica may answer).
 */
export class StatsReply {
  @IsIn(SERVICE_NAMES) service!: ServiceName;
  @IsString() instanceId!: string;
  @IsObject() stats!: Record<string, unknown>;
}
