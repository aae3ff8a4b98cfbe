import { percentile } from './report-table.js';
import { streamCompletion, type StreamTiming } from './sse-client.js';

export interface ClosedLoopResult {
  timings: StreamTiming[];
  /** [i]: output tokens of request i (bodyOf(i)); 0 when it failed. */
  tokensByRequest: number[];
  wallS: number;
  /** Requests that failed (HTTP error or an error chunk). */
  numFailed: number;
  outputTokens: number;
  outputTokensPerS: number;
  ttftMs: { p50: number; p99: number };
  itlMs: { p50: number; p99: number };
}

/**
 * `concurrency` streaming clients, each sending its next completion as soon as the previous one
 * ends, until `numRequests` have been sent: the load of N users (what vLLM's and SGLang's
 * serving benchmarks call max concurrency). `bodyOf(i)` is request i's body.
 */
export async function runClosedLoop(url: string, concurrency: number, numRequests: number, bodyOf: (i: number) => Record<string, unknown>): Promise<ClosedLoopResult> {
  const timings: StreamTiming[] = [];
  const tokensByRequest = new Array<number>(numRequests).fill(0);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < numRequests) {
        const i = next++;
        const timing = await streamCompletion(url, bodyOf(i));
        timings.push(timing);
        if (timing.ok) tokensByRequest[i] = timing.numTokens;
      }
    }),
  );
  const wallS = (performance.now() - started) / 1000;
  const ok = timings.filter((t) => t.ok);
  const outputTokens = ok.reduce((n, t) => n + t.numTokens, 0);
  const ttft = ok.map((t) => t.ttftMs);
  const itl = ok.flatMap((t) => t.interTokenMs);
  return {
    timings,
    tokensByRequest,
    wallS,
    numFailed: timings.length - ok.length,
    outputTokens,
    outputTokensPerS: outputTokens / wallS,
    ttftMs: { p50: percentile(ttft, 0.5), p99: percentile(ttft, 0.99) },
    itlMs: { p50: percentile(itl, 0.5), p99: percentile(itl, 0.99) },
  };
}
