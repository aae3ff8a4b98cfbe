import { HealthReply, HealthRequest } from './messages/health.contract.js';
import { DeltaBatchMessage, StepOutputsMessage } from './messages/outputs.contract.js';
import { ExecutorPingReply, KvEventsMessage, KvResyncRequest, PingRequest, ReplicaStatusMessage } from './messages/replica.contract.js';
import { AbortMessage, ExecutorRegistration, RegistrationReply, SubmitMessage, SubmitReply } from './messages/scheduler.contract.js';
import { PrepareGuideReply, PrepareGuideRequest } from './messages/sampling.contract.js';
import { StatsReply, StatsRequest } from './messages/stats.contract.js';
import { SchedulerOutput, StepResult } from './messages/step.contract.js';
import { ChatRequest, DecodeReply, DecodeRequest, EncodeReply, EncodeRequest, StreamCloseMessage, TokenizerInfoReply, TokenizerInfoRequest } from './messages/tokenizer.contract.js';
import type { Message } from './message.js';
import { ErrorCodes, ProtocolError } from './protocol.js';
import { queueGroupOf, type ServiceName } from './services.js';

/**
 * Subjects are lowercase, dotted and carry the protocol's major version, so two incompatible
 * deployments on one NATS cluster never hear each other. Only Routes builds them.
 */
export const SUBJECT_PREFIX = 'deepinfer.v1' as const;

/** What every route states. */
interface RouteInfo {
  /** Stable name of the route (its key in Routes): the pattern handlers are registered under. */
  readonly name: string;
  /** The subject, `{instance}` standing for the instance id of per-instance routes. */
  readonly pattern: string;
  /** What the instance id is (`service`, `replicaId`, …); undefined: one subject. */
  readonly instance: string | undefined;
  /**
   * Queue group (one member of the group gets each message), `{service}` standing for the
   * service of per-service routes; undefined: every subscriber hears every message (fan-out).
   */
  readonly queueGroup: string | undefined;
  /** What the route is for (the protocol reference in docs/architecture.md is made from it). */
  readonly doc: string;
}

/** Request/reply: one request, one reply envelope (`Reply<Res>`). */
export interface RequestRoute<Req, Res> extends RouteInfo {
  readonly kind: 'request';
  readonly request: Message<Req>;
  readonly reply: Message<Res>;
}

/** Publish/subscribe: a message, no reply. */
export interface EventRoute<M> extends RouteInfo {
  readonly kind: 'event';
  readonly message: Message<M>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the union of every route, whatever its messages
export type AnyRoute = RequestRoute<any, any> | EventRoute<any>;

/** A route at one subject: what the bus sends to and serves. */
export interface Address<R extends AnyRoute> {
  readonly route: R;
  readonly subject: string;
  readonly queue: string | undefined;
}

/** A subscription pattern over every instance of a per-instance event route (listen only). */
export interface Pattern<R extends AnyRoute> {
  readonly route: R;
  readonly wildcard: string;
}

/** A route with one subject: it is its own address. */
export type Global<R extends AnyRoute> = R & Address<R>;

/** A route with one subject per instance. */
export type PerInstance<R extends AnyRoute, I extends string> = R & {
  /** The route at one instance's subject. */
  at(instance: I): Address<R>;
  /**
   * The route at a subject received in a message (StreamOpen.deltasSubject,
   * ExecutorRegistration.stepSubject): refused with bad_request unless it is one of this route's.
   */
  fromSubject(subject: string): Address<R>;
  /** Every instance's subject at once (`*` in place of the instance), for listening. */
  readonly everyInstance: Pattern<R>;
};

type Spec<R> = Omit<R, 'name' | 'pattern' | 'instance' | 'queueGroup'>;

function single<R extends AnyRoute>(spec: Spec<R>, subject: string, queue?: string): Global<R> {
  const route = { ...spec, name: '', pattern: subject, instance: undefined, queueGroup: queue, subject, queue } as unknown as Global<R> & { route: R };
  (route as { route: R }).route = route;
  return route;
}

function perInstance<R extends AnyRoute, I extends string>(spec: Spec<R>, instance: string, subjectOf: (i: I) => string, queueOf?: (i: I) => string): PerInstance<R, I> {
  const pattern = subjectOf(`{${instance}}` as I);
  const [head, tail] = pattern.split(`{${instance}}`) as [string, string];
  const route = {
    ...spec,
    name: '',
    pattern,
    instance,
    queueGroup: queueOf?.(`{${instance}}` as I),
    at: (i: I): Address<R> => ({ route: route as unknown as R, subject: subjectOf(i), queue: queueOf?.(i) }),
    fromSubject: (subject: string): Address<R> => {
      const id = subject.startsWith(head) && subject.endsWith(tail) ? subject.slice(head.length, subject.length - tail.length) : '';
      if (!/^[^.*>\s]+$/.test(id)) throw new ProtocolError(ErrorCodes.badRequest, `${subject} is not a subject of ${pattern}`);
      return { route: route as unknown as R, subject, queue: undefined };
    },
    everyInstance: undefined as unknown as Pattern<R>,
  };
  route.everyInstance = { route: route as unknown as R, wildcard: subjectOf('*' as I) };
  return route as unknown as PerInstance<R, I>;
}

const request = <Req, Res>(request: Message<Req>, reply: Message<Res>, doc: string): Spec<RequestRoute<Req, Res>> => ({ kind: 'request', request, reply, doc });
const event = <M>(message: Message<M>, doc: string): Spec<EventRoute<M>> => ({ kind: 'event', message, doc });
const p = SUBJECT_PREFIX;

/**
 * Every route of DeepInfer, in one table: the protocol reference (docs/architecture.md
 * "Routes" is a copy, checked by contracts' routes.spec). The request path: api → tokenizer
 * (encode/chat, opening the request's stream) → scheduler (submit) → executor (one step
 * message, one reply, per step) → scheduler publishes one StepOutputs per step to each
 * tokenizer instance holding streams → tokenizer publishes one DeltaBatch per api instance.
 * Stop-string hits and client disconnects abort at the scheduler. Replicas (one scheduler +
 * executor pair each, docs/architecture.md "Scale-out"): every subject of a replica carries its
 * id, so the executor and the scheduler of a pair find each other, and the api's router reaches
 * the replica it chose.
 */
const table = {
  health: perInstance(request(HealthRequest, HealthReply, "Is the service up? One subject per service, served by the service's queue group (one instance answers)."), 'service', (s: ServiceName) => `${p}.${s}.health`, (s: ServiceName) => queueGroupOf(s)),
  healthAll: perInstance(request(HealthRequest, HealthReply, 'Every instance of a service answers (gathered, no queue group): admin tooling lists instances.'), 'service', (s: ServiceName) => `${p}.${s}.health.all`),
  stats: perInstance(
    request(StatsRequest, StatsReply, "Every instance's admin snapshot (gathered, no queue group): the scheduler's GET /stats, the executor's GET /executor, for the api's console."),
    'service',
    (s: ServiceName) => `${p}.${s}.stats`,
  ),

  tokenizerEncode: single(request(EncodeRequest, EncodeReply, 'Text (or token ids) → token ids, opening the request’s streams on the instance that answers.'), `${p}.tokenizer.encode`, queueGroupOf('tokenizer')),
  tokenizerChat: single(request(ChatRequest, EncodeReply, 'Chat messages → chat template → token ids (the reply carries the rendered prompt), opening streams.'), `${p}.tokenizer.chat`, queueGroupOf('tokenizer')),
  tokenizerDecode: single(request(DecodeRequest, DecodeReply, 'Token ids → text.'), `${p}.tokenizer.decode`, queueGroupOf('tokenizer')),
  tokenizerInfo: single(request(TokenizerInfoRequest, TokenizerInfoReply, 'What the api needs to know about the tokenizer (vocabulary, EOS ids, chat template).'), `${p}.tokenizer.info`, queueGroupOf('tokenizer')),
  tokenizerOutputs: perInstance(event(StepOutputsMessage, 'Scheduler → the tokenizer instance holding the streams: one message per step.'), 'tokenizerInstanceId', (id: string) => `${p}.tokenizer.${id}.outputs`),
  tokenizerClose: perInstance(event(StreamCloseMessage, 'Api → tokenizer instance: drop the streams opened for requests that never ran.'), 'tokenizerInstanceId', (id: string) => `${p}.tokenizer.${id}.close`),

  schedulerSubmit: single(request(SubmitMessage, SubmitReply, 'A tokenized request to any replica (no router’s choice): the scheduler accepts or refuses at once.'), `${p}.scheduler.submit`, queueGroupOf('scheduler')),
  schedulerAbort: single(event(AbortMessage, 'Client gone, stop string hit, or an error: every scheduler hears it, only the owner of a request acts.'), `${p}.scheduler.abort`),

  replicaSubmit: perInstance(request(SubmitMessage, SubmitReply, 'A tokenized request to the replica the api’s router chose.'), 'replicaId', (id: string) => `${p}.replica.${id}.submit`),
  replicaRegister: perInstance(request(ExecutorRegistration, RegistrationReply, 'Executor → its replica’s scheduler, at start and every few seconds: its capacity, a heartbeat.'), 'replicaId', (id: string) => `${p}.replica.${id}.register`),
  replicaStatus: perInstance(event(ReplicaStatusMessage, 'Scheduler → routers: heartbeat and load, every 250 ms.'), 'replicaId', (id: string) => `${p}.replica.${id}.status`),
  replicaKvEvents: perInstance(event(KvEventsMessage, 'Scheduler → routers: prefix-cache blocks stored and removed (batched).'), 'replicaId', (id: string) => `${p}.replica.${id}.kv_events`),
  replicaKvResync: perInstance(event(KvResyncRequest, 'Router → one scheduler: send the full hash set again.'), 'replicaId', (id: string) => `${p}.replica.${id}.kv_resync`),

  executorStep: perInstance(request(SchedulerOutput, StepResult, 'Scheduler → its executor: one step, one reply (the subject is named in the registration).'), 'executorId', (id: string) => `${p}.executor.${id}.step`),
  executorPing: perInstance(request(PingRequest, ExecutorPingReply, 'Scheduler → its executor: the liveness check.'), 'executorId', (id: string) => `${p}.executor.${id}.ping`),
  executorPrepareGuide: perInstance(
    request(PrepareGuideRequest, PrepareGuideReply, 'Scheduler → its executor: compile a guided request’s grammar before the request enters a step (bad_request when it cannot).'),
    'executorId',
    (id: string) => `${p}.executor.${id}.prepare_guide`,
  ),

  apiDeltas: perInstance(event(DeltaBatchMessage, 'Tokenizer → one api instance: the text deltas of its requests one detokenized step produced.'), 'apiInstanceId', (id: string) => `${p}.api.${id}.deltas`),
};

for (const [name, route] of Object.entries(table)) (route as { name: string }).name = name;

/** Every route, by name. */
export const Routes: Readonly<typeof table> = table;
export type RouteName = keyof typeof table;
