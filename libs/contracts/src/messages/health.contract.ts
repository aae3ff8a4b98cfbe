import { IsIn, IsNumber, IsObject, IsOptional, IsString } from 'class-validator';
import { SERVICE_NAMES, type ServiceName } from '../subjects.js';

/** Subject: Subjects.health(service). An empty object today; reserved for probes' options. */
export class HealthRequest {}

export const HEALTH_STATUSES = ['ok', 'starting', 'degraded'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

/** Reply to HealthRequest: who answered, and whether it can serve. */
export class HealthReply {
  @IsIn(SERVICE_NAMES) service!: ServiceName;
  /** Unique per process start: tells restarts and replicas apart. */
  @IsString() instanceId!: string;
  /** `ok` serves; `starting` is loading (model, tokenizer); `degraded` lost a dependency. */
  @IsIn(HEALTH_STATUSES) status!: HealthStatus;
  @IsNumber() uptimeSeconds!: number;
  @IsString() version!: string;
  /** Free-form, service-specific facts (model, device, queue length). */
  @IsOptional() @IsObject() details?: Record<string, unknown>;
}
