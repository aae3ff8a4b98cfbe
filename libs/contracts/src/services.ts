/** The four services. Each one's queue group is its name (queueGroupOf). */
export const SERVICE_NAMES = ['api', 'tokenizer', 'scheduler', 'executor'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** The queue group a service's request handlers join, so that several instances share work. */
export function queueGroupOf(service: ServiceName): string {
  return `deepinfer-${service}`;
}
