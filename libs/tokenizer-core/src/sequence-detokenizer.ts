import { IncrementalDetokenizer, type IncrementalDetokenizerOptions } from './incremental-detokenizer.js';
import { StopStringMatcher } from './stop-string-matcher.js';
import type { TokenPieces } from './token-pieces.compiler.js';

/**
 * Why a sequence ended, in vLLM's and OpenAI's words. From the scheduler, `stop` means it
 * sampled eos or a stop token id; the tokenizer adds `stop` for stop strings.
 */
export type FinishReason = 'stop' | 'length' | 'abort';

export interface SequenceDetokenizerOptions extends IncrementalDetokenizerOptions {
  /** stop strings; the text never reaches the client unless `includeStopStrInOutput` */
  stop?: readonly string[];
  /**
   * vLLM's `include_stop_str_in_output`: keep the matched stop string, and the text of the
   * stop token when the scheduler stopped on eos / a stop token id.
   */
  includeStopStrInOutput?: boolean;
}

/** What one step produced for one sequence, after detokenization and stop strings. */
export interface SequenceDelta {
  readonly requestId: string;
  /** new text for the client ('' when everything new is held back) */
  readonly text: string;
  /** output tokens of the sequence so far; after a stop-string hit, up to the token that completed it */
  readonly numOutputTokens: number;
  readonly finished: boolean;
  readonly finishReason?: FinishReason;
  /** the stop string that ended the sequence */
  readonly stopString?: string;
  /**
   * True when the tokenizer ended a sequence the scheduler still runs (a stop-string hit): the
   * caller must abort it at the scheduler so its KV blocks are freed.
   */
  readonly abortSequence: boolean;
}

/**
 * One request's output path: incremental detokenization, then stop strings, then the finish
 * rules (held-back text flushed on eos / length; the stop token's own text left out).
 */
export class SequenceDetokenizer {
  private readonly detokenizer: IncrementalDetokenizer;
  private readonly matcher: StopStringMatcher | null;
  private readonly includeStopStrInOutput: boolean;
  private numOutputTokens = 0;
  private done = false;

  constructor(
    readonly requestId: string,
    pieces: TokenPieces,
    options: SequenceDetokenizerOptions = {},
  ) {
    this.includeStopStrInOutput = options.includeStopStrInOutput ?? false;
    const stops = options.stop ?? [];
    this.matcher = stops.length > 0 ? new StopStringMatcher(stops, this.includeStopStrInOutput) : null;
    this.detokenizer = new IncrementalDetokenizer(pieces, options);
  }

  get isFinished(): boolean {
    return this.done;
  }

  /**
   * Consumes the ids one step sampled for this sequence. `finishReason` is the scheduler's:
   * when set, this is the sequence's last step.
   */
  feed(newTokenIds: readonly number[], finishReason?: FinishReason): SequenceDelta {
    if (this.done) return this.delta('', undefined);
    let ids = newTokenIds;
    // vLLM leaves the text of the token that stopped the sequence out of the output.
    let numUncountedTokens = 0;
    if (finishReason === 'stop' && !this.includeStopStrInOutput && ids.length > 0) {
      ids = ids.slice(0, -1);
      numUncountedTokens = 1;
    }
    if (this.matcher === null) {
      let text = this.detokenizer.push(ids);
      this.numOutputTokens += ids.length + numUncountedTokens;
      if (finishReason) text += this.end();
      return this.delta(text, finishReason);
    }
    // Token by token, so a hit knows which token completed it and later ids are dropped.
    let text = '';
    for (const id of ids) {
      this.numOutputTokens++;
      const check = this.matcher.push(this.detokenizer.pushOne(id));
      text += check.text;
      if (check.match) {
        this.end();
        return this.delta(text, 'stop', check.match.stopString, finishReason === undefined);
      }
    }
    this.numOutputTokens += numUncountedTokens;
    if (finishReason) {
      const last = this.matcher.push(this.end());
      text += last.text;
      if (last.match) return this.delta(text, 'stop', last.match.stopString, false);
      text += this.matcher.flush();
    }
    return this.delta(text, finishReason);
  }

  /** Ends the sequence now (e.g. the client went away) and returns what was held back. */
  finish(reason: FinishReason): SequenceDelta {
    if (this.done) return this.delta('', undefined);
    let text = this.end();
    if (this.matcher) {
      const last = this.matcher.push(text);
      text = last.text;
      if (last.match) return this.delta(text, 'stop', last.match.stopString, false);
      text += this.matcher.flush();
    }
    return this.delta(text, reason);
  }

  private end(): string {
    this.done = true;
    return this.detokenizer.finish();
  }

  private delta(text: string, finishReason: FinishReason | undefined, stopString?: string, abortSequence = false): SequenceDelta {
    return {
      requestId: this.requestId,
      text,
      numOutputTokens: this.numOutputTokens,
      finished: this.done,
      ...(finishReason !== undefined && this.done ? { finishReason } : {}),
      ...(stopString !== undefined ? { stopString } : {}),
      abortSequence,
    };
  }
}
