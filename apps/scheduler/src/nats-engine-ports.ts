import { ErrorCodes, ProtocolError, StepResultSchema, Subjects, type SchedulerOutput, type StepOutputsMessage, type StepResult } from '@deepinfer/contracts';
import type { MessageBus } from '@deepinfer/messaging';
import type { EngineLoopPorts } from '@deepinfer/scheduler-core';

/**
 * The engine loop's transport: one NATS request per step to the executor (its reply validated by
 * the hand-written StepResultSchema, not class-validator: it is on the hot path), one publish
 * per tokenizer instance per step. MessageBus turns a timeout, no responders and an error
 * envelope into a rejected ProtocolError, which the loop treats as the executor's failure.
 */
export class NatsEnginePorts implements EngineLoopPorts {
  constructor(private readonly bus: MessageBus) {}

  sendStep(stepSubject: string, step: SchedulerOutput, timeoutMs: number): Promise<StepResult> {
    return this.bus.request<StepResult>(stepSubject, step, { timeoutMs }, StepResultSchema);
  }

  publishOutputs(tokenizerInstanceId: string, message: StepOutputsMessage): void {
    this.bus.publish(Subjects.tokenizerOutputs(tokenizerInstanceId), message);
  }

  /** No responders on the ping subject: the executor's connection is gone (NATS knows at once). */
  async pingExecutor(executorId: string): Promise<'alive' | 'gone' | 'unknown'> {
    try {
      await this.bus.request(Subjects.executorPing(executorId), {}, { timeoutMs: 1000 });
      return 'alive';
    } catch (err) {
      if (err instanceof ProtocolError && err.code === ErrorCodes.unavailable && /no service is answering/.test(err.message)) return 'gone';
      return 'unknown';
    }
  }
}
