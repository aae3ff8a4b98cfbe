import type { Subscription } from '@nats-io/transport-node';
import { Routes, type ExecutorRegistration, type RegistrationReply, type SchedulerOutput, type StepResult } from '@deepinfer/contracts';
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
  private executor: FakeExecutor;
  private subscription: Subscription | undefined;
  private pingSubscription: Subscription | undefined;
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
