import type { DeltaTokenLogprob, ErrorCode, FinishReason, StreamDelta } from '@deepinfer/contracts';

/** The stream of one choice broke: a delta was lost or came twice. */
export class StreamGapError extends Error {}

/**
 * Everything received so far for one choice (one scheduler request). Deltas must arrive in
 * `seq` order with no gap: NATS keeps order per publisher, so a gap means a lost message and the
 * choice fails rather than returning silently wrong text.
 */
export class ChoiceState {
  text = '';
  readonly tokenIds: number[] = [];
  /** The prompt's token ids, known once it is encoded (before the choice is submitted). */
  promptTokenIds: readonly number[] = [];
  readonly logprobs: DeltaTokenLogprob[] = [];
  finishReason: FinishReason | undefined;
  stopReason: string | number | undefined;
  error: string | undefined;
  /** The protocol code of the error, when it has one (StreamDelta.errorCode). */
  errorCode: ErrorCode | undefined;
  numPromptTokens = 0;
  numCachedTokens = 0;
  numOutputTokens = 0;
  private nextSeq = 0;

  constructor(
    readonly requestId: string,
    /** The OpenAI choice index. */
    readonly index: number,
  ) {}

  get finished(): boolean {
    return this.finishReason !== undefined;
  }

  /** Ends the choice with an error that did not come through its stream (a service died). */
  fail(message: string, code?: ErrorCode): void {
    if (this.finished) return;
    this.finishReason = 'error';
    this.error = message;
    this.errorCode = code;
  }

  apply(delta: StreamDelta): void {
    if (delta.seq !== this.nextSeq) throw new StreamGapError(`stream of ${this.requestId} expected delta ${this.nextSeq}, got ${delta.seq}`);
    this.nextSeq++;
    this.text += delta.text;
    this.tokenIds.push(...delta.tokenIds);
    if (delta.logprobs) this.logprobs.push(...delta.logprobs);
    if (delta.finishReason) {
      this.finishReason = delta.finishReason;
      this.stopReason = delta.stopReason;
      this.error = delta.error;
      this.errorCode = delta.errorCode;
    }
    if (delta.usage) {
      this.numPromptTokens = delta.usage.numPromptTokens;
      this.numCachedTokens = delta.usage.numCachedTokens;
      this.numOutputTokens = delta.usage.numOutputTokens;
    } else {
      this.numOutputTokens += delta.tokenIds.length;
    }
  }
}
