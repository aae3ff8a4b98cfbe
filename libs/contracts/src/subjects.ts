/**
 * Every NATS subject DeepInfer uses, in one place. Subjects are lowercase, dotted and carry
 * the protocol's major version, so two incompatible deployments on one NATS cluster never
 * hear each other. Never build a subject by hand elsewhere: use these constants and helpers.
 */
export const SUBJECT_PREFIX = 'deepinfer.v1' as const;

/** The four services. Each one's queue group is its name. */
export const SERVICE_NAMES = ['api', 'tokenizer', 'scheduler', 'executor'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export const Subjects = {
  /** Request/reply: HealthRequest → HealthReply. One subject per service, served by a queue group. */
  health: (service: ServiceName) => `${SUBJECT_PREFIX}.${service}.health` as const,
  /** Request/reply to every instance (no queue group): used by admin tooling to list instances. */
  healthAll: (service: ServiceName) => `${SUBJECT_PREFIX}.${service}.health.all` as const,
} as const;

/** The queue group a service's request handlers join, so that several instances share work. */
export function queueGroupOf(service: ServiceName): string {
  return `deepinfer-${service}`;
}
