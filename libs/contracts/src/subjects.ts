/**
 * Every NATS subject DeepInfer uses, in one place. Subjects are lowercase, dotted and carry
 * the protocol's major version, so two incompatible deployments on one NATS cluster never
 * hear each other. Never build a subject by hand elsewhere: use these constants and helpers.
 */
export const SUBJECT_PREFIX = 'deepinfer.v1' as const;

/** The four services. Each one's queue group is its name. */
export const SERVICE_NAMES = ['api', 'tokenizer', 'scheduler', 'executor'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/**
 * The request path (DESIGN.md): api → tokenizer (encode/chat, opening the request's stream) →
 * scheduler (submit) → executor (one step message, one reply, per step) → scheduler publishes
 * one StepOutputs per step to each tokenizer instance holding streams → tokenizer publishes one
 * DeltaBatch per api instance. Stop-string hits and client disconnects abort at the scheduler.
 */
export const Subjects = {
  /** Request/reply: HealthRequest → HealthReply. One subject per service, served by a queue group. */
  health: (service: ServiceName) => `${SUBJECT_PREFIX}.${service}.health` as const,
  /** Request/reply to every instance (no queue group): used by admin tooling to list instances. */
  healthAll: (service: ServiceName) => `${SUBJECT_PREFIX}.${service}.health.all` as const,
  /**
   * Request/reply to every instance (no queue group): StatsRequest → StatsReply, the service's
   * admin snapshot (the scheduler's GET /stats, the executor's GET /executor). Gathered by the
   * api's console; answered by the services that have one.
   */
  stats: (service: ServiceName) => `${SUBJECT_PREFIX}.${service}.stats` as const,

  /** Request/reply, queue group: EncodeRequest → EncodeReply. */
  tokenizerEncode: `${SUBJECT_PREFIX}.tokenizer.encode`,
  /** Request/reply, queue group: ChatRequest → EncodeReply (with the rendered prompt). */
  tokenizerChat: `${SUBJECT_PREFIX}.tokenizer.chat`,
  /** Request/reply, queue group: DecodeRequest → DecodeReply. */
  tokenizerDecode: `${SUBJECT_PREFIX}.tokenizer.decode`,
  /** Request/reply, queue group: TokenizerInfoRequest → TokenizerInfoReply. */
  tokenizerInfo: `${SUBJECT_PREFIX}.tokenizer.info`,
  /** Publish-only, to the one tokenizer instance holding the streams: StepOutputsMessage. */
  tokenizerOutputs: (tokenizerInstanceId: string) => `${SUBJECT_PREFIX}.tokenizer.${tokenizerInstanceId}.outputs` as const,
  /** Publish-only: StreamCloseMessage (drop streams opened for requests that never ran). */
  tokenizerClose: (tokenizerInstanceId: string) => `${SUBJECT_PREFIX}.tokenizer.${tokenizerInstanceId}.close` as const,

  /** Request/reply, queue group over every replica: SubmitMessage → SubmitReply (no router's choice). */
  schedulerSubmit: `${SUBJECT_PREFIX}.scheduler.submit`,
  /** Publish-only, every scheduler hears it (only the owner of a request acts): AbortMessage. */
  schedulerAbort: `${SUBJECT_PREFIX}.scheduler.abort`,

  /**
   * Replicas (one scheduler + executor pair each, docs/architecture.md "Scale-out"). Every
   * subject of a replica carries its id, so the executor and the scheduler of a pair find each
   * other, and the api's router reaches the replica it chose.
   */
  /** Request/reply to one replica's scheduler: SubmitMessage → SubmitReply. */
  replicaSubmit: (replicaId: string) => `${SUBJECT_PREFIX}.replica.${replicaId}.submit` as const,
  /** Request/reply, executor → its replica's scheduler: ExecutorRegistration → RegistrationReply. */
  replicaRegister: (replicaId: string) => `${SUBJECT_PREFIX}.replica.${replicaId}.register` as const,
  /** Publish-only, scheduler → routers: ReplicaStatusMessage (heartbeat and load). */
  replicaStatus: (replicaId: string) => `${SUBJECT_PREFIX}.replica.${replicaId}.status` as const,
  /** Subscription pattern: every replica's status. */
  replicaStatusAll: `${SUBJECT_PREFIX}.replica.*.status`,
  /** Publish-only, scheduler → routers: KvEventsMessage (prefix-cache stores and removals). */
  replicaKvEvents: (replicaId: string) => `${SUBJECT_PREFIX}.replica.${replicaId}.kv_events` as const,
  /** Subscription pattern: every replica's KV events. */
  replicaKvEventsAll: `${SUBJECT_PREFIX}.replica.*.kv_events`,
  /** Publish-only, router → one scheduler: KvResyncRequest (send the full hash set again). */
  replicaKvResync: (replicaId: string) => `${SUBJECT_PREFIX}.replica.${replicaId}.kv_resync` as const,

  /** Request/reply to one executor: SchedulerOutput → StepResult. Named in its registration. */
  executorStep: (executorId: string) => `${SUBJECT_PREFIX}.executor.${executorId}.step` as const,
  /** Request/reply to one executor: {} → ExecutorPingReply. Its scheduler's liveness check. */
  executorPing: (executorId: string) => `${SUBJECT_PREFIX}.executor.${executorId}.ping` as const,

  /** Publish-only, to one api instance: DeltaBatchMessage (text deltas of its requests). */
  apiDeltas: (apiInstanceId: string) => `${SUBJECT_PREFIX}.api.${apiInstanceId}.deltas` as const,
} as const;

/** The queue group a service's request handlers join, so that several instances share work. */
export function queueGroupOf(service: ServiceName): string {
  return `deepinfer-${service}`;
}
