import { BlockAllocator, type Engine, type StepSequence } from '@deepinfer/engine';

export interface EngineAloneWorkload {
  /** Sequences in flight at once (the stack's concurrent clients). */
  concurrency: number;
  numRequests: number;
  /** Request i's prompt is prompts[i % prompts.length]. */
  prompts: readonly Int32Array[];
  /** Tokens generated per request (no stop token: the stack's ignore_eos). */
  maxTokens: number;
  /** Token budget of one step (the max_num_batched_tokens setting). */
  maxNumBatchedTokens: number;
}

export interface EngineAloneResult {
  wallS: number;
  outputTokens: number;
  outputTokensPerS: number;
  numSteps: number;
}

/** One request's sequence: its tokens (prompt, then samples), KV positions written and blocks. */
interface Sequence {
  tokens: Int32Array;
  promptLen: number;
  /** tokens known (prompt + sampled) */
  known: number;
  /** positions whose K/V are in the cache */
  computed: number;
  blockIds: number[];
  blockTable: Int32Array;
}

/**
 * The stack's workload run on the engine alone, in this process, with nothing between the steps
 * but this loop: what the engine can do, the figure the stack is measured against. It batches
 * like the scheduler: every running sequence gets its next token, then prompts are prefilled in
 * chunks with the rest of the step's token budget; a finished sequence frees its blocks and the
 * next request takes its place at the next step (closed loop, as the benchmark clients). Greedy,
 * no prefix sharing (the prompts should be distinct). Throws if the KV cache cannot hold the
 * running sequences (the stack would preempt; this loop does not).
 */
export async function runEngineAlone(engine: Engine, workload: EngineAloneWorkload): Promise<EngineAloneResult> {
  const { blockSize, numKvBlocks } = engine.info;
  const allocator = new BlockAllocator(numKvBlocks);
  const running: Sequence[] = [];
  let admitted = 0;
  let outputTokens = 0;
  let numSteps = 0;
  const started = performance.now();
  for (;;) {
    while (running.length < workload.concurrency && admitted < workload.numRequests) {
      const prompt = workload.prompts[admitted++ % workload.prompts.length]!;
      const tokens = new Int32Array(prompt.length + workload.maxTokens);
      tokens.set(prompt);
      running.push({ tokens, promptLen: prompt.length, known: prompt.length, computed: 0, blockIds: [], blockTable: new Int32Array(Math.ceil(tokens.length / blockSize)) });
    }
    if (running.length === 0) break;
    // Decoding sequences first (one token each), then prefill chunks within the remaining budget.
    const order = [...running].sort((a, b) => Number(a.computed < a.promptLen) - Number(b.computed < b.promptLen));
    let budget = workload.maxNumBatchedTokens;
    const batch: { seq: Sequence; end: number }[] = [];
    for (const seq of order) {
      const end = Math.min(seq.known, seq.computed + budget);
      if (end <= seq.computed) break;
      budget -= end - seq.computed;
      while (seq.blockIds.length * blockSize < end) {
        if (allocator.numFree === 0) throw new Error(`the KV cache (${numKvBlocks} blocks of ${blockSize}) cannot hold ${workload.concurrency} sequences of ${seq.tokens.length} tokens`);
        const id = allocator.allocate();
        seq.blockTable[seq.blockIds.length] = id;
        seq.blockIds.push(id);
      }
      batch.push({ seq, end });
    }
    const step: StepSequence[] = batch.map(({ seq, end }) => ({
      tokenIds: seq.tokens.subarray(seq.computed, end),
      startPos: seq.computed,
      blockTable: seq.blockTable.subarray(0, seq.blockIds.length),
      sample: end === seq.known,
    }));
    const out = await engine.step(step);
    numSteps++;
    batch.forEach(({ seq, end }, i) => {
      seq.computed = end;
      if (end !== seq.known) return;
      seq.tokens[seq.known++] = out.tokenIds[i]!;
      outputTokens++;
      if (seq.known === seq.tokens.length) {
        allocator.release(seq.blockIds);
        running.splice(running.indexOf(seq), 1);
      }
    });
  }
  const wallS = (performance.now() - started) / 1000;
  return { wallS, outputTokens, outputTokensPerS: outputTokens / wallS, numSteps };
}
