import type {
  DeltaBatchMessage,
  DeltaTokenLogprob,
  RequestOutput,
  StepOutputsMessage,
  StreamDelta,
  StreamOpen,
} from '@deepinfer/contracts';
import type { TokenPieces } from './token-pieces.compiler.js';
import { SequenceDetokenizer } from './sequence-detokenizer.js';
import { TokenTexts } from './token-texts.js';
import { DuplicateStreamError } from './tokenizer.errors.js';

/** A stream without any output for this long is presumed orphaned (see sweepIdle). */
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 10 * 60_000;

export interface StreamRouterOptions {
  idleTimeoutMs?: number;
  /** The clock, in ms; injectable for tests. */
  now?: () => number;
}

/** The deltas one api instance gets from one step (or one sweep). */
export interface RoutedDeltaBatch {
  /** Routes.apiDeltas at the api instance, as given in StreamOpen.deltasSubject */
  readonly subject: string;
  readonly message: DeltaBatchMessage;
}

export interface StepRouting {
  /** One batch per distinct deltas subject that had a request in the step, in first-seen order. */
  readonly batches: RoutedDeltaBatch[];
  /**
   * Requests a stop string ended while the scheduler still runs them: the caller publishes ONE
   * AbortMessage {requestIds, reason: 'stop'} for the step so their KV blocks are freed.
   */
  readonly stopAbortRequestIds: string[];
  /** Outputs for requests with no stream here (already stopped, closed, swept, or never opened). */
  readonly unknownRequestIds: string[];
  /** Streams that ended in this step (and are gone). */
  readonly numFinishedStreams: number;
}

export interface SweepResult {
  /** A final `error` delta per dropped stream, so the api can end the client's response. */
  readonly batches: RoutedDeltaBatch[];
  /** The dropped requests, to abort at the scheduler (reason `error`) in case one still runs. */
  readonly requestIds: string[];
}

interface Stream {
  readonly requestId: string;
  readonly deltasSubject: string;
  readonly sequence: SequenceDetokenizer;
  /** seq of the next delta: deltas of a request are numbered 0, 1, 2, … without gaps */
  nextSeq: number;
  /** output tokens the detokenizer consumed so far (SequenceDelta.numOutputTokens) */
  numConsumedTokens: number;
  lastActivityMs: number;
}

/**
 * The detokenization streams of one tokenizer instance and the routing of the scheduler's
 * per-step outputs to the api instances that wait for them. Framework-free: the tokenizer
 * service feeds it StepOutputsMessages and publishes what it returns.
 *
 * Invariants: a stream exists from `open` until its request finishes (the scheduler's finish
 * reason or a stop-string hit), is closed or is swept, and is then removed at once, so `size`
 * is the number of requests still streaming; every delta of a stream carries the next `seq`,
 * so the api sees 0, 1, 2, … and a gap can only mean a lost message.
 */
export class StreamRouter {
  private readonly streams = new Map<string, Stream>();
  private readonly texts: TokenTexts;
  private readonly idleTimeoutMs: number;
  private readonly now: () => number;

  constructor(
    private readonly pieces: TokenPieces,
    options: StreamRouterOptions = {},
  ) {
    this.texts = new TokenTexts(pieces);
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS;
    this.now = options.now ?? Date.now;
  }

  /** Streams open now. */
  get size(): number {
    return this.streams.size;
  }

  has(requestId: string): boolean {
    return this.streams.has(requestId);
  }

  /**
   * Opens the streams of one request (one per choice), primed with the prompt's ids so the first
   * output word keeps its space and a character split between prompt and output completes.
   * All or nothing: an invalid stop string (InvalidStopError) or a request id that already has a
   * stream (DuplicateStreamError) opens none of them.
   */
  open(streams: readonly StreamOpen[], promptTokenIds: readonly number[]): void {
    const created: Stream[] = [];
    const ids = new Set<string>();
    const now = this.now();
    for (const open of streams) {
      if (this.streams.has(open.requestId) || ids.has(open.requestId)) throw new DuplicateStreamError(open.requestId);
      ids.add(open.requestId);
      const d = open.detokenize ?? {};
      const sequence = new SequenceDetokenizer(open.requestId, this.pieces, {
        promptTokenIds,
        ...(d.stop !== undefined ? { stop: d.stop } : {}),
        ...(d.includeStopStrInOutput !== undefined ? { includeStopStrInOutput: d.includeStopStrInOutput } : {}),
        ...(d.skipSpecialTokens !== undefined ? { skipSpecialTokens: d.skipSpecialTokens } : {}),
        ...(d.spacesBetweenSpecialTokens !== undefined ? { spacesBetweenSpecialTokens: d.spacesBetweenSpecialTokens } : {}),
      });
      created.push({ requestId: open.requestId, deltasSubject: open.deltasSubject, sequence, nextSeq: 0, numConsumedTokens: 0, lastActivityMs: now });
    }
    for (const stream of created) this.streams.set(stream.requestId, stream);
  }

  /** Drops streams without output (their requests will not run). Returns how many existed. */
  close(requestIds: readonly string[]): number {
    let numClosed = 0;
    for (const id of requestIds) if (this.streams.delete(id)) numClosed++;
    return numClosed;
  }

  /**
   * Detokenizes one step: each known request's new ids go through its SequenceDetokenizer (stop
   * strings included), and the deltas are grouped by deltas subject, one batch per api instance.
   * Synchronous on purpose: steps must be processed in the order they arrive.
   */
  route(step: StepOutputsMessage): StepRouting {
    const now = this.now();
    const bySubject = new Map<string, StreamDelta[]>();
    const stopAbortRequestIds: string[] = [];
    const unknownRequestIds: string[] = [];
    let numFinishedStreams = 0;
    for (const output of step.outputs) {
      const stream = this.streams.get(output.requestId);
      if (stream === undefined) {
        unknownRequestIds.push(output.requestId);
        continue;
      }
      stream.lastActivityMs = now;
      const { delta, finished, abortAtScheduler } = this.deltaOf(stream, output);
      let list = bySubject.get(stream.deltasSubject);
      if (list === undefined) bySubject.set(stream.deltasSubject, (list = []));
      list.push(delta);
      if (finished) {
        this.streams.delete(stream.requestId);
        numFinishedStreams++;
        if (abortAtScheduler) stopAbortRequestIds.push(stream.requestId);
      }
    }
    return { batches: toBatches(bySubject), stopAbortRequestIds, unknownRequestIds, numFinishedStreams };
  }

  /** Drops streams with no output for longer than the idle timeout, so none leaks. */
  sweepIdle(): SweepResult {
    const now = this.now();
    const bySubject = new Map<string, StreamDelta[]>();
    const requestIds: string[] = [];
    for (const stream of this.streams.values()) {
      if (now - stream.lastActivityMs <= this.idleTimeoutMs) continue;
      this.streams.delete(stream.requestId);
      requestIds.push(stream.requestId);
      const delta: StreamDelta = {
        requestId: stream.requestId,
        seq: stream.nextSeq++,
        text: '',
        tokenIds: [],
        finishReason: 'error',
        error: `no output for this request for ${Math.round(this.idleTimeoutMs / 1000)} s; its stream was dropped`,
      };
      let list = bySubject.get(stream.deltasSubject);
      if (list === undefined) bySubject.set(stream.deltasSubject, (list = []));
      list.push(delta);
    }
    return { batches: toBatches(bySubject), requestIds };
  }

  private deltaOf(stream: Stream, output: RequestOutput): { delta: StreamDelta; finished: boolean; abortAtScheduler: boolean } {
    const reason = output.finishReason;
    // The detokenizer knows stop/length/abort; an engine error ends the text like an abort.
    const seqDelta = stream.sequence.feed(output.newTokenIds, reason === 'error' ? 'abort' : reason);
    // A stop-string hit consumes the ids up to the one that completed it; the rest are dropped.
    const numConsumed = seqDelta.numOutputTokens - stream.numConsumedTokens;
    stream.numConsumedTokens = seqDelta.numOutputTokens;
    const tokenIds = numConsumed >= output.newTokenIds.length ? output.newTokenIds : output.newTokenIds.slice(0, numConsumed);
    const logprobs = output.logprobs ? this.logprobsOf(tokenIds, output) : undefined;
    let delta: StreamDelta = {
      requestId: stream.requestId,
      seq: stream.nextSeq++,
      text: seqDelta.text,
      tokenIds,
      ...(logprobs ? { logprobs } : {}),
    };
    if (seqDelta.finished) {
      const finishReason = reason === 'error' ? 'error' : (seqDelta.finishReason ?? reason ?? 'stop');
      const stopReason =
        seqDelta.stopString ?? (finishReason === 'stop' && typeof output.stopTokenId === 'number' ? output.stopTokenId : undefined);
      delta = {
        ...delta,
        finishReason,
        ...(stopReason !== undefined ? { stopReason } : {}),
        usage: {
          numPromptTokens: output.numPromptTokens,
          numCachedTokens: output.numCachedTokens,
          // Tokens sampled after a stop-string hit are not part of the completion.
          numOutputTokens: Math.max(0, output.numOutputTokens - (output.newTokenIds.length - tokenIds.length)),
        },
        // The code (bad_request: the executor refused the grammar) decides the api's status.
        ...(finishReason === 'error' ? { error: output.error ?? 'the request failed in the engine', ...(output.errorCode !== undefined ? { errorCode: output.errorCode } : {}) } : {}),
      };
    }
    return { delta, finished: seqDelta.finished, abortAtScheduler: seqDelta.abortSequence };
  }

  /**
   * The sampled tokens' logprobs with text. The hot-path schema only checks that `logprobs` is
   * an array, so malformed entries are skipped here rather than failing the whole step.
   */
  private logprobsOf(tokenIds: readonly number[], output: RequestOutput): DeltaTokenLogprob[] {
    const out: DeltaTokenLogprob[] = [];
    const entries = output.logprobs ?? [];
    for (let i = 0; i < tokenIds.length; i++) {
      const entry = entries[i];
      if (typeof entry !== 'object' || entry === null || typeof entry.logprob !== 'number') continue;
      const tokenId = tokenIds[i]!;
      const top: DeltaTokenLogprob['top'][number][] = [];
      const topIds = Array.isArray(entry.topTokenIds) ? entry.topTokenIds : [];
      const topLogprobs = Array.isArray(entry.topLogprobs) ? entry.topLogprobs : [];
      for (let k = 0; k < topIds.length && k < topLogprobs.length; k++) {
        const id = topIds[k];
        const logprob = topLogprobs[k];
        if (typeof id === 'number' && typeof logprob === 'number') top.push({ tokenId: id, token: this.texts.textOf(id), logprob });
      }
      out.push({ tokenId, token: this.texts.textOf(tokenId), logprob: entry.logprob, top });
    }
    return out;
  }
}

function toBatches(bySubject: Map<string, StreamDelta[]>): RoutedDeltaBatch[] {
  const batches: RoutedDeltaBatch[] = [];
  for (const [subject, deltas] of bySubject) batches.push({ subject, message: { deltas } });
  return batches;
}
