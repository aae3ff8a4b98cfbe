import { InvalidStopError } from './tokenizer.errors.js';

export interface StopMatch {
  /** the stop string that was found */
  readonly stopString: string;
}

export interface StopCheck {
  /** text that is safe to send to the client now */
  readonly text: string;
  /** set when a stop string completed: the sequence is over and must be aborted at the scheduler */
  readonly match?: StopMatch;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Finds stop strings in a stream of text deltas, across token boundaries.
 *
 * Invariants: the text returned so far never contains a stop string, and the held-back text is
 * the longest suffix of the unsent text that is a proper prefix of some stop string (so every
 * match starts inside held + new text, and nothing else is delayed). On a hit the result is
 * truncated before the stop string, or just after it with `includeStopStrInOutput` (vLLM's
 * `include_stop_str_in_output`). When several stop strings occur, the one that completes first
 * in the text wins (the one a token-by-token check meets first); on a tie, the one that starts
 * first, so the least text reaches the client.
 */
export class StopStringMatcher {
  private readonly stops: readonly string[];
  /** every proper prefix of every stop string, to size the hold-back in O(longest stop) lookups */
  private readonly prefixes = new Set<string>();
  private readonly maxHoldChars: number;
  private held = '';
  private stopped = false;

  constructor(
    stops: readonly string[],
    private readonly includeStopStrInOutput = false,
  ) {
    for (const stop of stops) {
      if (typeof stop !== 'string' || stop.length === 0) throw new InvalidStopError('strings must be non-empty');
      if (LONE_SURROGATE.test(stop)) throw new InvalidStopError(`string ${JSON.stringify(stop)} is not well-formed Unicode`);
      for (let length = 1; length < stop.length; length++) this.prefixes.add(stop.slice(0, length));
    }
    this.stops = [...new Set(stops)];
    this.maxHoldChars = Math.max(0, ...this.stops.map((stop) => stop.length - 1));
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Text withheld because it may be the start of a stop string. */
  get heldText(): string {
    return this.held;
  }

  push(delta: string): StopCheck {
    if (this.stopped || delta.length === 0) return { text: '' };
    const buffer = this.held + delta;
    let bestStart = -1;
    let bestEnd = Infinity;
    let best = '';
    for (const stop of this.stops) {
      const start = buffer.indexOf(stop);
      if (start < 0) continue;
      const end = start + stop.length;
      if (end < bestEnd || (end === bestEnd && start < bestStart)) {
        bestStart = start;
        bestEnd = end;
        best = stop;
      }
    }
    if (bestStart >= 0) {
      this.stopped = true;
      this.held = '';
      return {
        text: buffer.slice(0, this.includeStopStrInOutput ? bestEnd : bestStart),
        match: { stopString: best },
      };
    }
    let hold = Math.min(this.maxHoldChars, buffer.length);
    while (hold > 0 && !this.prefixes.has(buffer.slice(buffer.length - hold))) hold--;
    this.held = hold === 0 ? '' : buffer.slice(buffer.length - hold);
    return { text: hold === 0 ? buffer : buffer.slice(0, buffer.length - hold) };
  }

  /** The sequence ended for another reason (eos, length): the withheld text was not a stop after all. */
  flush(): string {
    const text = this.held;
    this.held = '';
    return text;
  }
}
