import {
  SequenceDetokenizer,
  type FinishReason,
  type SequenceDelta,
  type SequenceDetokenizerOptions,
} from './sequence-detokenizer.js';
import type { TokenPieces } from './token-pieces.compiler.js';

/** One sequence's part of a step's batched output (the shape the scheduler publishes per step). */
export interface SequenceStepOutput {
  readonly requestId: string;
  /** ids sampled for this sequence in this step, in order (usually one; more with speculation) */
  readonly newTokenIds: readonly number[];
  /** set on the sequence's last step */
  readonly finishReason?: FinishReason;
}

/**
 * The live detokenizers of one tokenizer instance, keyed by request id.
 *
 * Invariant: an entry exists from `create` until its sequence finishes (by the scheduler's
 * finish reason, a stop-string hit or `finish`) or is dropped; finished entries are removed at
 * once, so the pool's size is the number of sequences still streaming.
 */
export class DetokenizerPool {
  private readonly sequences = new Map<string, SequenceDetokenizer>();

  constructor(private readonly pieces: TokenPieces) {}

  get size(): number {
    return this.sequences.size;
  }

  has(requestId: string): boolean {
    return this.sequences.has(requestId);
  }

  /** Registers a request before its first output arrives; replaces nothing (a duplicate id throws). */
  create(requestId: string, options: SequenceDetokenizerOptions = {}): void {
    if (this.sequences.has(requestId)) throw new Error(`detokenizer for request ${requestId} already exists`);
    this.sequences.set(requestId, new SequenceDetokenizer(requestId, this.pieces, options));
  }

  /** Feeds one sequence; undefined when the id is unknown (already stopped, dropped, never created). */
  feed(requestId: string, newTokenIds: readonly number[], finishReason?: FinishReason): SequenceDelta | undefined {
    const sequence = this.sequences.get(requestId);
    if (!sequence) return undefined;
    const delta = sequence.feed(newTokenIds, finishReason);
    if (delta.finished) this.sequences.delete(requestId);
    return delta;
  }

  /**
   * Processes one step's batched output. Outputs for unknown ids are skipped: after a stop-string
   * hit the scheduler may still send a step or two before the abort reaches it.
   */
  processStep(outputs: readonly SequenceStepOutput[]): SequenceDelta[] {
    const deltas: SequenceDelta[] = [];
    for (const output of outputs) {
      const delta = this.feed(output.requestId, output.newTokenIds, output.finishReason);
      if (delta) deltas.push(delta);
    }
    return deltas;
  }

  /** Ends a sequence from outside (client disconnect, error) and returns its held-back text. */
  finish(requestId: string, reason: FinishReason = 'abort'): SequenceDelta | undefined {
    const sequence = this.sequences.get(requestId);
    if (!sequence) return undefined;
    this.sequences.delete(requestId);
    return sequence.finish(reason);
  }

  /** Forgets a sequence without output. */
  drop(requestId: string): boolean {
    return this.sequences.delete(requestId);
  }
}
