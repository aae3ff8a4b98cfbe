import { ErrorCodes, ProtocolError, Routes, type Address, type GuidedDecoding, type RequestRoute, type SchedulerOutput, type StepOutputsMessage, type StepResult } from '@deepinfer/contracts';
import type { MessageBus } from '@deepinfer/messaging';
import type { EngineLoopPorts, GuidePreparation } from '@deepinfer/scheduler-core';

/**
 * How long a grammar compile may take on the executor before its requests go to the queue anyway
 * (their first step then compiles it): generous, a complex schema compiles for seconds.
 */
const PREPARE_GUIDE_TIMEOUT_MS = 60_000;

/**
 * The engine loop's transport: one NATS request per step to the executor (Routes.executorStep,
 * its reply validated by StepResult's compiled validator), one publish per tokenizer instance
 * per step (Routes.tokenizerOutputs). MessageBus turns a timeout, no responders and an error
 * envelope into a rejected ProtocolError, which the loop treats as the executor's failure.
 */
export class NatsEnginePorts implements EngineLoopPorts {
  /** The step route at the registered executor's subject (one executor at a time: one entry). */
  private stepAddress: Address<RequestRoute<SchedulerOutput, StepResult>> | undefined;

  constructor(private readonly bus: MessageBus) {}

  sendStep(stepSubject: string, step: SchedulerOutput, timeoutMs: number): Promise<StepResult> {
    if (this.stepAddress?.subject !== stepSubject) this.stepAddress = Routes.executorStep.fromSubject(stepSubject);
    return this.bus.call(this.stepAddress, step, { timeoutMs });
  }

  publishOutputs(tokenizerInstanceId: string, message: StepOutputsMessage): void {
    this.bus.emit(Routes.tokenizerOutputs.at(tokenizerInstanceId), message);
  }

  /** No responders on the ping subject: the executor's connection is gone (NATS knows at once). */
  async pingExecutor(executorId: string): Promise<'alive' | 'gone' | 'unknown'> {
    try {
      await this.bus.call(Routes.executorPing.at(executorId), {}, { timeoutMs: 1000 });
      return 'alive';
    } catch (err) {
      if (err instanceof ProtocolError && err.code === ErrorCodes.unavailable && /no service is answering/.test(err.message)) return 'gone';
      return 'unknown';
    }
  }

  /** bad_request: the executor cannot compile the grammar; anything else: unknown (the request goes on). */
  async prepareGuide(executorId: string, spec: GuidedDecoding): Promise<GuidePreparation> {
    try {
      await this.bus.call(Routes.executorPrepareGuide.at(executorId), { guided: spec }, { timeoutMs: PREPARE_GUIDE_TIMEOUT_MS });
      return { outcome: 'ready' };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return { outcome: err instanceof ProtocolError && err.code === ErrorCodes.badRequest ? 'refused' : 'unknown', message };
    }
  }
}
