import type { Subscription } from '@nats-io/transport-node';
import { ErrorCodes, ProtocolError, Routes, type ErrorCode, type ExecutorRegistration, type GuidedDecoding, type PrepareGuideReply, type RegistrationReply, type SchedulerOutput, type StepResult } from '@deepinfer/contracts';
import type { MessageBus } from '@deepinfer/messaging';
import { FakeExecutor } from '@deepinfer/scheduler-core/testing';

export const FAKE_VOCAB_SIZE = 1000;

/**
 * scheduler-core's deterministic FakeExecutor behind a real NATS step subject, registering the
 * way an executor does. Unit tests only: end-to-end tests run the real engine.
 */
export class NatsFakeExecutor {
  readonly registration: ExecutorRegistration;
  /** `hang`: take steps and never answer (a wedged executor). */
  mode: 'answer' | 'hang' = 'answer';
  /** Added to every step, to keep requests running while a test acts. */
  stepDelayMs = 0;
  numSteps = 0;
  /**
   * How it answers Routes.executorPrepareGuide: a failure (code and message, as the real executor
   * replies `bad_request` for a grammar it cannot compile) or undefined to compile it.
   */
  prepareFailure: (spec: GuidedDecoding) => { code: ErrorCode; message: string } | undefined = () => undefined;
  /** The specs it was asked to prepare. */
  readonly prepared: GuidedDecoding[] = [];
  private executor: FakeExecutor;
  private subscription: Subscription | undefined;
  private pingSubscription: Subscription | undefined;
  private prepareSubscription: Subscription | undefined;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly bus: MessageBus,
    executorId: string,
    epoch: string,
    capacity: { numBlocks: number; blockSize: number; maxModelLen: number; maxNumBatchedTokens: number },
    readonly replicaId = 'r0',
  ) {
    this.registration = {
      executorId,
      epoch,
      ...capacity,
      model: { name: 'fake-model', revision: 'fake-rev-1', vocabSize: FAKE_VOCAB_SIZE, eosTokenIds: [], dtype: 'float32' },
      device: 'cpu',
      stepSubject: Routes.executorStep.at(executorId).subject,
    } as ExecutorRegistration;
    this.executor = this.newExecutor();
  }

  async start(): Promise<RegistrationReply> {
    this.subscription = this.bus.serve(Routes.executorStep.fromSubject(this.registration.stepSubject), (step) => this.step(step));
    this.pingSubscription = this.bus.serve(Routes.executorPing.at(this.registration.executorId), () => ({ executorId: this.registration.executorId }));
    this.prepareSubscription = this.bus.serve(Routes.executorPrepareGuide.at(this.registration.executorId), (request) => this.prepareGuide(request.guided));
    await this.bus.flush();
    // Heartbeats, as a real executor sends them (the scheduler drops a silent one).
    this.heartbeat = setInterval(() => void this.register().catch(() => undefined), 1000);
    this.heartbeat.unref();
    return this.register();
  }

  /** Registers (or heartbeats); a new session means a fresh executor state. */
  async register(): Promise<RegistrationReply> {
    const reply = await this.bus.call(Routes.replicaRegister.at(this.replicaId), this.registration);
    if (reply.newSession) this.executor = this.newExecutor();
    return reply;
  }

  stop(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.subscription?.unsubscribe();
    this.pingSubscription?.unsubscribe();
    this.prepareSubscription?.unsubscribe();
  }

  private prepareGuide(spec: GuidedDecoding): PrepareGuideReply {
    this.prepared.push(spec);
    const failure = this.prepareFailure(spec);
    if (failure) throw new ProtocolError(failure.code, failure.message, failure.code === ErrorCodes.badRequest ? 'guided' : undefined);
    return { ok: true };
  }

  private async step(step: SchedulerOutput): Promise<StepResult> {
    this.numSteps++;
    if (this.mode === 'hang') return new Promise<never>(() => {});
    if (this.stepDelayMs > 0) await new Promise((r) => setTimeout(r, this.stepDelayMs));
    return this.executor.execute(step);
  }

  private newExecutor(): FakeExecutor {
    return new FakeExecutor({ numBlocks: this.registration.numBlocks, blockSize: this.registration.blockSize, vocabSize: FAKE_VOCAB_SIZE });
  }
}
