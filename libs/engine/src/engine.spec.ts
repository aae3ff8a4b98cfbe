import { execFileSync } from 'node:child_process';
import { Engine, loadEngine } from './engine.js';
import { EngineError } from './engine.errors.js';
import { generate } from './generate.js';
import { stepSamples } from './step-samples.js';
import { FP8_CHANNEL_FIXTURE_DIR, STORIES_260K_DIR, goldenIds } from './test-support/fixture-paths.js';

// These run the real addon (nx builds @deepinfer/native before this target) on the bundled
// stories260k model. Addon errors are checked by message: their classes come from another realm.
const blocks = (n: number, from = 0) => Int32Array.from({ length: n }, (_, i) => from + i);

async function collect(engine: Engine, prompt: number[], maxTokens: number): Promise<number[]> {
  const ids: number[] = [];
  for await (const token of generate(engine, { promptTokenIds: prompt, maxTokens })) ids.push(token.tokenId);
  return ids;
}

describe('Engine (real addon, stories260k)', () => {
  let engine: Engine;

  beforeAll(async () => {
    engine = await loadEngine({ model: STORIES_260K_DIR, threads: 2, numKvBlocks: 1024, maxNumBatchedTokens: 512 });
  });
  afterAll(() => engine.close());

  it('reports the model and the geometry', () => {
    expect(engine.info).toMatchObject({
      architecture: 'LlamaForCausalLM',
      vocabSize: 512,
      numLayers: 5,
      numKvHeads: 4,
      headDim: 8,
      maxPositionEmbeddings: 512,
      bosTokenId: 1,
      eosTokenIds: [2, 1],
      weightDtype: 'F32',
      blockSize: 16,
      numKvBlocks: 1024,
      numThreads: 2,
    });
    // 2 (K, V) × 5 layers × 16 slots × 4 heads × 8 dims × 4 bytes
    expect(engine.info.kvBlockBytes).toBe(2 * 5 * 16 * 4 * 8 * 4);
    expect(engine.info.backend).toMatch(/^cpu-/);
    // The CPU backend captures no CUDA graphs (the counter is live on CUDA: test_cuda checks it there).
    expect(engine.info.cudaGraphsCaptured).toBe(0);
    expect(engine.cudaGraphsCaptured).toBe(0);
  });

  it('greedy generation from [BOS] for 200 tokens reproduces the llama2.c golden', async () => {
    const golden = goldenIds();
    expect(await collect(engine, [1], 200)).toEqual(golden.slice(1));
  });

  it('a chunked prefill of the golden prefix continues the golden', async () => {
    const golden = goldenIds();
    const ids: number[] = [];
    for await (const t of generate(engine, { promptTokenIds: golden.slice(0, 37), maxTokens: 20, prefillChunkTokens: 8 })) ids.push(t.tokenId);
    expect(ids).toEqual(golden.slice(37, 57));
  });

  it('refuses a second step while one runs, cleanly, and keeps working', async () => {
    const seq = { tokenIds: Int32Array.of(1), startPos: 0, blockTable: blocks(1), sample: true };
    const first = engine.step([seq]);
    expect(engine.busy).toBe(true);
    const second = engine.step([seq]);
    await expect(second).rejects.toThrow('another step is already running on this engine');
    await expect(second).rejects.toBeInstanceOf(EngineError);
    const out = await first;
    expect(Array.from(out.tokenIds)).toEqual([goldenIds()[1]]);
    expect(engine.busy).toBe(false);
    expect(Array.from((await engine.step([seq])).tokenIds)).toEqual([goldenIds()[1]]);
  });

  it('rejects malformed steps with the engine’s message and stays usable', async () => {
    await expect(engine.step([{ tokenIds: Int32Array.of(1, 2, 3), startPos: 30, blockTable: blocks(1), sample: true }])).rejects.toThrow(
      'step: seqs[0].block_table has 1 blocks but positions [0, 33) need 3',
    );
    await expect(engine.step([{ tokenIds: Int32Array.of(1, 512), blockTable: blocks(1), sample: true }])).rejects.toThrow(
      'step: seqs[0].token_ids[1] = 512 is outside the vocabulary [0, 512)',
    );
    await expect(engine.step([{ tokenIds: Int32Array.of(1), blockTable: Int32Array.of(5000), sample: true }])).rejects.toThrow(
      'is not a block id in [0, 1024)',
    );
    await expect(engine.step([{ tokenIds: [1] as unknown as Int32Array, blockTable: blocks(1) }])).rejects.toThrow(
      'step: seqs[0].tokenIds must be an Int32Array',
    );
    await expect(engine.step([{ tokenIds: Int32Array.of(1), blockTable: blocks(1), sample: true, sampling: { topP: 0 } }])).rejects.toThrow(
      'step: seqs[0].sampling.top_p must be in (0, 1]',
    );
    expect(await collect(engine, [1], 30)).toEqual(goldenIds().slice(1, 31));
  });

  it('returns logprobs and the top alternatives when asked', async () => {
    const out = await engine.step([
      { tokenIds: Int32Array.of(1), blockTable: blocks(1), sample: true, sampling: { numLogprobs: 3 } },
      { tokenIds: Int32Array.of(1), blockTable: blocks(1, 1), sample: false },
    ]);
    expect(out.tokenIds[0]).toBe(403);
    expect(out.tokenIds[1]).toBe(-1);
    expect(out.ranks[0]).toBe(1);
    expect(out.logprobs[0]).toBeLessThan(0);
    expect(Number.isNaN(out.logprobs[1])).toBe(true);
    const top = out.topLogprobs![0]!;
    expect(top.tokenIds[0]).toBe(403);
    expect(top.logprobs[0]).toBeCloseTo(out.logprobs[0]!, 6);
    expect(out.topLogprobs![1]).toBeNull();
    const [sampled, notSampled] = stepSamples(out);
    expect(sampled).toMatchObject({ tokenId: 403, logprob: out.logprobs[0], topIds: Array.from(top.tokenIds) });
    expect(sampled!.topLogprobs).toHaveLength(3);
    expect(notSampled).toBeUndefined();
  });

  it('seeded sampling is reproducible, and stops at an eos id without yielding it', async () => {
    const run = async (seed: number) => {
      const ids: number[] = [];
      const it = generate(engine, { promptTokenIds: [1], maxTokens: 60, sampling: { temperature: 1, topP: 0.9, seed } });
      for await (const t of it) ids.push(t.tokenId);
      return ids;
    };
    const a = await run(7);
    expect(await run(7)).toEqual(a);
    expect(await run(8)).not.toEqual(a);
    // Stop at the first token the greedy story produces after "Once": nothing is yielded.
    const it = generate(engine, { promptTokenIds: [1], maxTokens: 10, stopTokenIds: [403] });
    const first = await it.next();
    expect(first).toEqual({ done: true, value: { finishReason: 'stop', stopTokenId: 403, numTokens: 0 } });
  });

  it('refuses a second generate() on the same engine', async () => {
    const a = generate(engine, { promptTokenIds: [1], maxTokens: 5 });
    await a.next();
    await expect(generate(engine, { promptTokenIds: [1], maxTokens: 5 }).next()).rejects.toThrow('another generate() is running on this engine');
    await a.return(undefined as never);
    expect(await collect(engine, [1], 3)).toEqual(goldenIds().slice(1, 4));
  });

  it('runs a long prefill off the event loop: a timer keeps firing throughout', async () => {
    // 8 sequences × 500 tokens (4,000 tokens, one step; ~0.3 s here). A blocking step would let no timer
    // fire until it returns, so the largest gap between ticks would be the whole step.
    const seqs = Array.from({ length: 8 }, (_, i) => ({
      tokenIds: Int32Array.from({ length: 500 }, (_, j) => 3 + ((i * 31 + j * 7) % 500)),
      startPos: 0,
      blockTable: blocks(32, i * 32),
      sample: true,
    }));
    const ticks: number[] = [];
    const timer = setInterval(() => ticks.push(performance.now()), 2);
    const start = performance.now();
    await engine.step(seqs);
    const end = performance.now();
    clearInterval(timer);
    const stepMs = end - start;
    const marks = [start, ...ticks, end];
    const maxGap = Math.max(...marks.slice(1).map((t, i) => t - marks[i]!));
    expect(stepMs).toBeGreaterThan(20); // long enough for the ratio to mean something
    expect(maxGap / stepMs).toBeLessThan(0.5);
    expect(ticks.length).toBeGreaterThanOrEqual(3);
  });
});

describe('masks later (guided masks supplied while the step runs)', () => {
  let engine: Engine;
  const V = 512;
  const maskOf = (ids: number[], words: Uint32Array = new Uint32Array(V / 32)) => {
    words.fill(0);
    for (const id of ids) words[id >>> 5]! |= 1 << (id & 31);
    return words;
  };
  const row = (block: number, maskLater: boolean) => ({ tokenIds: Int32Array.of(1), startPos: 0, blockTable: Int32Array.of(block), sample: true, maskLater });
  const settled = (p: Promise<unknown>) => {
    const state = { done: false };
    void p.then(() => (state.done = true), () => (state.done = true));
    return state;
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  beforeAll(async () => {
    engine = await loadEngine({ model: STORIES_260K_DIR, threads: 2, numKvBlocks: 16 });
  });
  afterAll(() => engine.close());

  it('the step waits for supplyMasks after starting; the late mask holds, a refused row samples nothing', async () => {
    // Greedy from BOS is 403; row 0 may only take 10 or 45, row 1 is refused, row 2 is free.
    const stepping = engine.step([row(0, true), row(1, true), row(2, false)], { logits: true });
    const state = settled(stepping);
    await sleep(50);
    expect(state.done).toBe(false); // it cannot sample without the masks
    expect(engine.awaitingMasks).toBe(true);
    // From a SharedArrayBuffer (as the guide workers' masks are), overwritten right after: the
    // engine copied it.
    const shared = new Uint32Array(new SharedArrayBuffer(V / 8));
    engine.supplyMasks([maskOf([10, 45], shared), 'refuse', undefined]);
    maskOf([403], shared);
    expect(engine.awaitingMasks).toBe(false);
    const out = await stepping;
    const logits = out.logits!;
    expect(out.tokenIds[0]).toBe(logits[10]! >= logits[45]! ? 10 : 45);
    expect(out.tokenIds[1]).toBe(-1);
    expect(out.tokenIds[2]).toBe(403);
    // Measured natively: the worker thread blocked in the engine's callback.
    expect(out.masksWaitMs).toBeGreaterThan(0);
    // A step without maskLater rows does not report it.
    expect((await engine.step([row(2, false)])).masksWaitMs).toBeUndefined();
  });

  it('supplyMasks without a waiting step is an error, and so is a second one', async () => {
    expect(() => engine.supplyMasks([undefined])).toThrow(/no step is waiting for masks/);
    expect(() => engine.supplyMasks([undefined])).toThrow(EngineError);
    const plain = engine.step([row(2, false)]);
    expect(() => engine.supplyMasks([undefined])).toThrow(/no step is waiting for masks/);
    await plain;
    const stepping = engine.step([row(0, true)]);
    engine.supplyMasks([maskOf([7])]);
    expect(() => engine.supplyMasks([maskOf([7])])).toThrow(/no step is waiting for masks/);
    expect(Array.from((await stepping).tokenIds)).toEqual([7]);
  });

  it('an invalid supplyMasks refuses the maskLater rows and releases the step', async () => {
    const stepping = engine.step([row(0, true), row(2, false)]);
    expect(() => engine.supplyMasks([new Uint32Array(3), undefined])).toThrow(/must have ceil\(vocab_size \/ 32\) = 16 words, not 3 \(the step's maskLater rows were refused\)/);
    expect(Array.from((await stepping).tokenIds)).toEqual([-1, 403]);
    const again = engine.step([row(0, true), row(2, false)]);
    expect(() => engine.supplyMasks([undefined, maskOf([7])])).toThrow(/masks\[1\]: sequence 1 was not started with maskLater/);
    expect(Array.from((await again).tokenIds)).toEqual([-1, 403]);
    // A mask that allows no token fails the step with the engine's message, as an up-front one does.
    const empty = engine.step([row(0, true)]);
    engine.supplyMasks([maskOf([])]);
    await expect(empty).rejects.toThrow('seqs[0].sampling.allowed_token_mask allows no token');
  });

  it('close() releases a step waiting for its masks (its maskLater rows sample nothing)', async () => {
    const own = await loadEngine({ model: STORIES_260K_DIR, threads: 1, numKvBlocks: 4 });
    const stepping = own.step([row(0, true), row(1, false)]);
    await sleep(20);
    own.close();
    expect(Array.from((await stepping).tokenIds)).toEqual([-1, 403]);
  });
});

describe('engine lifecycle', () => {
  it('rejects a bad model path with the loader’s message', async () => {
    await expect(loadEngine({ model: '/nonexistent/model' })).rejects.toThrow('model directory /nonexistent/model does not exist');
  });

  it('close() during a step lets the step finish, then refuses further steps', async () => {
    const engine = await loadEngine({ model: STORIES_260K_DIR, threads: 1, numKvBlocks: 4 });
    const running = engine.step([{ tokenIds: Int32Array.of(1), blockTable: blocks(1), sample: true }]);
    engine.close();
    expect(engine.closed).toBe(true);
    expect((await running).tokenIds[0]).toBe(403);
    await expect(engine.step([{ tokenIds: Int32Array.of(1), blockTable: blocks(1) }])).rejects.toThrow('step: the engine is closed');
    engine.close(); // idempotent
  });
});

describe('backend choice', () => {
  const hasGpu = (() => {
    try {
      execFileSync('nvidia-smi', ['-L'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  it('backend cuda: runs on the GPU, or says plainly why it cannot', async () => {
    if (hasGpu) {
      const engine = await loadEngine({ model: STORIES_260K_DIR, backend: 'cuda', numKvBlocks: 64 });
      expect(engine.info.backend).toMatch(/^cuda/);
      engine.close();
      return;
    }
    await expect(loadEngine({ model: STORIES_260K_DIR, backend: 'cuda', numKvBlocks: 64 })).rejects.toThrow(/CUDA (backend is not built|device was found)|no usable CUDA device/);
  });

  it('backend auto falls back to the CPU without a GPU', async () => {
    const engine = await loadEngine({ model: STORIES_260K_DIR, backend: 'auto', numKvBlocks: 64 });
    expect(engine.info.backend).toMatch(hasGpu ? /^(cuda|cpu)/ : /^cpu-/);
    engine.close();
  });

  it('runs an FP8 checkpoint on the CPU and reports its stored and served types', async () => {
    const engine = await loadEngine({ model: FP8_CHANNEL_FIXTURE_DIR, backend: 'cpu', threads: 1, numKvBlocks: 16 });
    // The linear layers are F8_E4M3 (most of the bytes); the rest is bf16, served as such.
    expect(engine.info).toMatchObject({ weightDtype: 'F8_E4M3', weightQuantization: 'fp8_e4m3 (per-channel)', dtype: 'bfloat16', kvCacheDtype: 'float32' });
    const tokens: number[] = [];
    for await (const t of generate(engine, { promptTokenIds: [1, 5, 9], maxTokens: 6 })) tokens.push(t.tokenId);
    expect(tokens).toHaveLength(6);
    engine.close();
  });

  it('refuses an unknown backend name', async () => {
    await expect(loadEngine({ model: STORIES_260K_DIR, backend: 'tpu' as 'cpu' })).rejects.toThrow(/backend must be/);
  });
});
