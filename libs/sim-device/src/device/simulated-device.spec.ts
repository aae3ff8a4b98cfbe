import { SIM_PROFILES, simProfile } from '../profile/sim-device-profile.js';
import { generate, prompt, sampling, sequence } from '../test-support/drive-device.js';
import { LLAMA_31_8B_CONFIG, LLAMA_31_GENERATION_CONFIG, SMALL_LLAMA_CONFIG, writeModelDir } from '../test-support/model-dirs.js';
import type { StepMasks } from '@deepinfer/executor-core';
import { SimulatedDevice, type SimulatedDeviceOptions } from './simulated-device.js';

const smallModel = writeModelDir(SMALL_LLAMA_CONFIG);
const llama8b = writeModelDir(LLAMA_31_8B_CONFIG, LLAMA_31_GENERATION_CONFIG);
const devices: SimulatedDevice[] = [];

async function device(options: Partial<SimulatedDeviceOptions> = {}): Promise<SimulatedDevice> {
  const d = await SimulatedDevice.create({
    model: smallModel,
    profile: SIM_PROFILES.h200,
    blockSize: 4,
    gpuMemoryUtilization: 0.9,
    maxNumBatchedTokens: 2048,
    seed: 0,
    numKvBlocks: 4096,
    ...options,
  });
  devices.push(d);
  return d;
}

afterAll(() => {
  for (const d of devices) d.close();
});

describe('SimulatedDevice: what it reports', () => {
  it('reports itself as a simulator in the engine info, with the memory plan of the card', async () => {
    const d = await device({ model: llama8b, profile: SIM_PROFILES.rtx5090, blockSize: 16, maxNumBatchedTokens: 8192, numKvBlocks: undefined });
    expect(d.info).toMatchObject({
      numLayers: 32,
      numHeads: 32,
      numKvHeads: 8,
      headDim: 128,
      hiddenSize: 4096,
      vocabSize: 128256,
      maxPositionEmbeddings: 131072,
      bosTokenId: 128000,
      eosTokenIds: [128001, 128008, 128009],
      architecture: 'LlamaForCausalLM',
      weightDtype: 'BF16',
      dtype: 'bfloat16',
      kvCacheDtype: 'bfloat16',
      weightQuantization: '',
      backend: 'sim-rtx5090',
      weightBytes: 16_060_522_496,
      weightBytesPerStep: 15_009_849_344,
      blockSize: 16,
      numKvBlocks: 5767,
      kvBlockBytes: 2 * 2 ** 20,
      numThreads: 0,
      deviceName: 'simulated NVIDIA GeForce RTX 5090 (step-time model, not a device)',
      deviceTotalBytes: 32_607 * 2 ** 20,
    });
    expect(d.info.deviceFreeBytes).toBeGreaterThanOrEqual(0);
    expect(d.info.deviceFreeBytes).toBeLessThan(d.info.kvBlockBytes + 0.1 * d.info.deviceTotalBytes + 1);
    expect(d.info.backendDetails).toMatch(/^step-time model \(a measuring instrument, not a device\) of NVIDIA GeForce RTX 5090: 1792 GB\/s .* → 5767 KV blocks of 2 MiB$/);
  });

  it('says custom when the profile was overridden, and refuses a memory plan or block count that does not fit', async () => {
    const custom = await device({ model: llama8b, profile: simProfile('rtx5090', { memoryGib: 48 }), blockSize: 16, numKvBlocks: undefined });
    expect(custom.info.backend).toBe('sim-custom');
    expect(custom.info.deviceName).toBe('simulated NVIDIA GeForce RTX 5090 with custom peaks (step-time model, not a device)');
    await expect(device({ model: llama8b, profile: SIM_PROFILES.rtx4090, gpuMemoryUtilization: 0.5, numKvBlocks: undefined })).rejects.toThrow(/leaves no room for the KV cache: weights 15317 MiB/);
    await expect(device({ model: llama8b, profile: SIM_PROFILES.rtx5090, blockSize: 16, numKvBlocks: 100_000 })).rejects.toThrow(/100000 KV blocks of 2097152 bytes do not fit .* \(at most \d+\)/);
  });
});

describe('SimulatedDevice: tokens', () => {
  const prompts = Array.from({ length: 64 }, (_, i) => prompt(i + 1, 5 + ((i * 7) % 40)));

  it('gives the same tokens for the same steps, from the context and not the device seed', async () => {
    const a = generate(await device(), prompts.slice(0, 3), { numTokens: 20 });
    const b = generate(await device({ seed: 1234 }), prompts.slice(0, 3), { numTokens: 20 });
    expect(a).toEqual(b);
    expect(new Set(a.flat()).size).toBeGreaterThan(40); // not a constant
    expect(a[0]).not.toEqual(a[1]);
  });

  it('gives a sequence the same tokens alone or in a batch of 64, with any blocks', async () => {
    const alone = generate(await device(), [prompts[5]!], { numTokens: 30 });
    let b = 4095;
    const batched = generate(await device(), prompts, { numTokens: 30, allocateBlock: () => (b -= 3) + 3 }); // blocks from the top, strided
    expect(batched[5]).toEqual(alone[0]);
  });

  it('gives the same tokens for a chunked or a whole prefill', async () => {
    const whole = generate(await device(), prompts.slice(0, 8), { numTokens: 12 });
    const chunked = generate(await device(), prompts.slice(0, 8), { numTokens: 12, chunk: 7 });
    const byOne = generate(await device(), prompts.slice(0, 8), { numTokens: 12, chunk: 1 });
    expect(chunked).toEqual(whole);
    expect(byOne).toEqual(whole);
  });

  it('gives a prefix-cache hit (the first request’s full blocks, startPos at the hit) the tokens of a full recompute', async () => {
    const shared = prompt(99, 24); // 6 full blocks of 4
    const first = [...shared, ...prompt(100, 5)];
    const second = [...shared, ...prompt(101, 9)];
    const recompute = generate(await device(), [second], { numTokens: 16 });

    const d = await device();
    let next = 0;
    const allocate = () => next++;
    generate(d, [first], { numTokens: 4, allocateBlock: allocate }); // fills blocks 0..8
    const hit = generate(d, [second], { numTokens: 16, allocateBlock: allocate, cachedPrefix: () => ({ blockTable: [0, 1, 2, 3, 4, 5], numTokens: 24 }) });
    expect(hit).toEqual(recompute);
  });

  it('gives other tokens for a wrong block table, a wrong cache hit, a wrong position or two sequences mixed up', async () => {
    const d = await device();
    const a = prompt(7, 12);
    const b = prompt(8, 12);
    // Fill a in blocks 0-2 and b in blocks 3-5.
    const [ta, tb] = d.computeStep([sequence(a, 0, [0, 1, 2]), sequence(b, 0, [3, 4, 5])]).samples.map((s) => s!.tokenId);
    const decode = (table: number[], startPos = 12, token = ta!) => d.computeStep([sequence([token], startPos, [...table, 6 + table[0]!])]).samples[0]!.tokenId;
    const right = decode([0, 1, 2]);
    expect(decode([0, 1, 2])).toBe(right); // reproducible (the decode writes the same slot again)
    expect(decode([0, 4, 2])).not.toBe(right); // one wrong block in the middle
    expect(decode([3, 1, 2])).not.toBe(right); // a wrong "cache hit" for the first block
    expect(decode([0, 1, 2], 11)).not.toBe(right); // off by one position (same blocks)
    expect(decode([3, 4, 5], 12, ta!)).not.toBe(right); // b's context with a's token: mixed up
    expect(decode([3, 4, 5], 12, tb!)).not.toBe(right);
    // A block overwritten in one slot by someone else reads differently.
    d.computeStep([sequence([5], 4, [9, 1], false)]); // writes slot 0 of block 1
    expect(decode([0, 1, 2])).not.toBe(right);
  });

  it('never samples BOS and uses the rest of the vocabulary', async () => {
    const tiny = await device({ model: writeModelDir({ ...SMALL_LLAMA_CONFIG, vocab_size: 5, bos_token_id: 0, eos_token_id: 4 }) });
    const outputs = generate(tiny, [[1, 2, 3], [3, 2, 1], [2]], { numTokens: 600 }).flat();
    const counts = [0, 1, 2, 3, 4].map((id) => outputs.filter((t) => t === id).length);
    expect(counts[0]).toBe(0);
    for (const id of [1, 2, 3, 4]) expect(counts[id]).toBeGreaterThan(outputs.length / 10);
  });
});

describe('SimulatedDevice: sampling settings', () => {
  const context = prompt(42, 10);
  const one = async (params = sampling(), seed = 0) => (await device({ seed })).computeStep([sequence(context, 0, [0, 1, 2], true, params)]).samples[0]!;
  const bias = (entries: [number, number][]) => ({ logitBiasIds: Int32Array.from(entries.map((e) => e[0])), logitBiasValues: Float32Array.from(entries.map((e) => e[1])) });

  it('follows logitBias: +1 makes any id win, −Infinity bans, a negative bias lets the next token through', async () => {
    const natural = (await one()).tokenId;
    const other = natural === 500 ? 501 : 500;
    expect((await one(sampling(bias([[other, 1]])))).tokenId).toBe(other);
    expect((await one(sampling(bias([[other, 0.0001]])))).tokenId).toBe(natural); // 1 − e/V + 0.0001 < 1 for most ids
    const second = (await one(sampling(bias([[natural, -Infinity]])))).tokenId;
    expect(second).not.toBe(natural);
    expect((await one(sampling(bias([[natural, -0.5]])))).tokenId).toBe(second); // 0.5 < the next one's 1 − 1/V
    const third = (await one(sampling(bias([[natural, -Infinity], [second, -Infinity]])))).tokenId;
    expect([natural, second]).not.toContain(third);
    // A bias list that does not touch the winner changes nothing.
    expect((await one(sampling(bias([[third, -Infinity]])))).tokenId).toBe(natural);
    // BOS is never sampled, whatever its bias.
    expect((await one(sampling(bias([[1, 100]])))).tokenId).toBe(natural);
  });

  it('samples a guided sequence under the mask delivered after the forward pass, and never without one', async () => {
    const d = await device();
    const free = (await one()).tokenId;
    const allowed = free === 500 ? 501 : 500;
    const mask = new Uint32Array(Math.ceil(d.info.vocabSize / 32));
    mask[allowed >>> 5]! |= 1 << (allowed & 31);
    const guided = { ...sequence(context, 0, [0, 1, 2], true, sampling()), guided: true };
    let deliver!: (rows: (Uint32Array | undefined)[]) => void;
    const supply: StepMasks = { masks: new Promise((resolve) => (deliver = resolve)) };
    const stepping = d.step([guided, sequence(prompt(7, 4), 0, [3, 4])], supply);
    setTimeout(() => deliver([mask, undefined]), 30); // well after the modelled step (µs for 14 tokens)
    const [g, other] = await stepping;
    expect(g!.tokenId).toBe(allowed);
    expect(other).toBeDefined();
    expect(supply.waitedMs).toBeGreaterThan(0);
    // Refused, rejected or absent masks: the guided sequence samples nothing, the other one does.
    expect((await d.step([guided], { masks: Promise.resolve(['refuse']) }))[0]).toBeUndefined();
    const failed = await d.step([guided, sequence(prompt(8, 4), 0, [5, 6])], { masks: Promise.reject(new Error('executor failed')) });
    expect(Array.from(failed, (x) => x !== undefined)).toEqual([false, true]);
    expect(d.computeStep([guided]).samples[0]).toBeUndefined();
  });

  it('bans stop ids under minTokens (as −Infinity biases) when the context’s own token is an EOS id', async () => {
    const d = await device();
    let found: { context: number[]; token: number } | undefined;
    for (let i = 0; i < 20_000 && !found; i++) {
      const c = prompt(1000 + i, 3);
      const token = d.computeStep([sequence(c, 0, [0])]).samples[0]!.tokenId;
      if (token === 2) found = { context: c, token };
    }
    expect(found).toBeDefined(); // EOS comes up about once per vocabulary size
    const banned = d.computeStep([sequence(found!.context, 0, [0], true, sampling(bias([[2, -Infinity]])))]).samples[0]!.tokenId;
    expect(banned).not.toBe(2);
  });

  it('returns logprobs of a geometric distribution over the order: the greedy token on top, top-N descending, summing to 1', async () => {
    const greedy = await one(sampling({ numLogprobs: 5 }));
    expect(greedy.topIds).toHaveLength(5);
    expect(greedy.topIds![0]).toBe(greedy.tokenId);
    expect(greedy.logprob).toBe(greedy.topLogprobs![0]);
    for (let k = 1; k < 5; k++) expect(greedy.topLogprobs![k]!).toBeLessThan(greedy.topLogprobs![k - 1]!);
    expect(Math.exp(greedy.topLogprobs![0]!)).toBeGreaterThanOrEqual(0.35);
    expect(Math.exp(greedy.topLogprobs![0]!)).toBeLessThan(0.95);
    const all = await one(sampling({ numLogprobs: 2000 }));
    expect(all.topIds).toHaveLength(999); // every id but BOS
    expect(new Set(all.topIds).size).toBe(999);
    expect(all.topIds).not.toContain(1);
    expect(all.topLogprobs!.reduce((s, l) => s + Math.exp(l), 0)).toBeCloseTo(1, 5);
    expect((await one(sampling({ numLogprobs: 0 })))).toMatchObject({ topIds: [], topLogprobs: [] });
    expect((await one()).logprob).toBeUndefined();
  });

  it('draws seeded requests from (seed, position), unseeded ones from the device generator, one draw per sampling sequence in input order', async () => {
    const seeded = sampling({ temperature: 1, seed: 77, numLogprobs: 0 });
    const seededTokens = await Promise.all([0, 1, 2].map(async (deviceSeed) => (await one(seeded, deviceSeed)).tokenId));
    expect(new Set(seededTokens).size).toBe(1);

    const random = sampling({ temperature: 1 });
    const contexts = Array.from({ length: 24 }, (_, i) => prompt(500 + i, 6));
    const run = async (deviceSeed: number, before: 'none' | 'greedy' | 'prefill') => {
      const d = await device({ seed: deviceSeed });
      return contexts.map((c, i) => {
        const extra = before === 'greedy' ? [sequence(prompt(9, 3), 0, [100 + i])] : before === 'prefill' ? [sequence(prompt(9, 3), 0, [100 + i], false)] : [];
        return d.computeStep([...extra, sequence(c, 0, [2 * i, 2 * i + 1], true, random)]).samples.at(-1)!.tokenId;
      });
    };
    const base = await run(5, 'none');
    expect(await run(5, 'none')).toEqual(base);
    expect(await run(6, 'none')).not.toEqual(base); // another device seed
    expect(await run(5, 'prefill')).toEqual(base); // a sequence that does not sample draws nothing
    expect(await run(5, 'greedy')).not.toEqual(base); // a greedy sampling sequence takes a draw first
  });

  it('truncates random draws to topK / topP / minP, and treats topK 1 as greedy', async () => {
    const natural = (await one()).tokenId;
    expect((await one(sampling({ temperature: 0.8, topK: 1 }))).tokenId).toBe(natural);
    const d = await device({ seed: 3 });
    const ranksOf = (params: ReturnType<typeof sampling>) =>
      Array.from({ length: 300 }, () => {
        const s = d.computeStep([sequence(context, 0, [0, 1, 2], true, { ...params, numLogprobs: 50 })]).samples[0]!;
        return s.topIds!.indexOf(s.tokenId);
      });
    const free = ranksOf(sampling({ temperature: 1 }));
    expect(Math.max(...free)).toBeGreaterThan(2);
    expect(Math.max(...ranksOf(sampling({ temperature: 1, topK: 3 })))).toBeLessThanOrEqual(2);
    expect(Math.max(...ranksOf(sampling({ temperature: 1, topP: 0.05 })))).toBe(0);
    expect(Math.max(...ranksOf(sampling({ temperature: 1, minP: 0.99 })))).toBe(0);
  });
});

describe('SimulatedDevice: steps', () => {
  it('rejects a malformed step whole, before writing anything', async () => {
    const d = await device();
    const reference = generate(await device(), [prompt(3, 9)], { numTokens: 5 });
    d.computeStep([sequence(prompt(3, 9), 0, [0, 1, 2], false)]);
    const bad = [
      [sequence([5], 9, [0, 1, 4096]), /block 4096 does not exist \(4096 blocks\)/],
      [sequence([5], 9, [0, 1]), /2 blocks of 4 cannot hold positions \[0, 10\)/],
      [sequence([1000], 9, [0, 1, 2]), /token 1000 is outside the vocabulary \(1000\)/],
      [sequence([5], 9, [0, 1, 2], true, sampling({ logitBiasIds: Int32Array.of(-1), logitBiasValues: Float32Array.of(1) })), /logit bias id -1/],
      [sequence([], 9, [0, 1, 2]), /no tokens/],
    ] as const;
    for (const [s, message] of bad) {
      // The good sequence first: it must not have been written when the bad one is refused.
      await expect(d.step([sequence([7, 7, 7, 7], 0, [50, 51]), s])).rejects.toThrow(message);
    }
    expect(d.stats.numSteps).toBe(1);
    // Block 50 still holds nothing of [7, 7, 7, 7]: the slots of a fresh device hold zeros, and so do these.
    const fresh = await device();
    const probe = (dev: SimulatedDevice) => dev.computeStep([sequence([8], 4, [50, 51])]).samples[0]!.tokenId;
    expect(probe(d)).toBe(probe(fresh));
    // And the earlier prefill is intact.
    let next = 100;
    const rest = generate(d, [prompt(3, 9)], { numTokens: 5, allocateBlock: () => next++, cachedPrefix: () => ({ blockTable: [0, 1, 2], numTokens: 8 }) });
    expect(rest).toEqual(reference);
  });

  it('resolves a step when its modelled time has elapsed, steps back to back, and counts them', async () => {
    const d = await device({ model: llama8b, blockSize: 16, numKvBlocks: 1024 });
    const decode = (i: number) => sequence([5], 100, [i * 8, i * 8 + 1, i * 8 + 2, i * 8 + 3, i * 8 + 4, i * 8 + 5, i * 8 + 6]);
    const batch = Array.from({ length: 32 }, (_, i) => decode(i));
    const modelledMs = d.timeModel.stepTimeMs(batch.map(() => ({ numTokens: 1, contextLen: 101 })));
    const started = performance.now();
    const first = d.step(batch);
    const second = d.step(batch); // queued behind the first: starts when it ends
    const firstSamples = await first;
    const firstMs = performance.now() - started;
    await second;
    const bothMs = performance.now() - started;
    expect(firstSamples).toHaveLength(32);
    expect(firstMs).toBeGreaterThan(modelledMs - 1.1); // the timer may wake up to its learned lead (≤ 1 ms) early
    expect(bothMs).toBeGreaterThan(2 * modelledMs - 1.1);
    expect(d.stats).toEqual({ numSteps: 2, busyMs: 2 * modelledMs, numTokens: 64 });
    await expect(d.step([])).resolves.toEqual([]);
    expect(d.stats.numSteps).toBe(2);
    d.close();
    await expect(d.step(batch)).rejects.toThrow('the simulated device is closed');
  });

  it('costs the host little next to the modelled time (256 decodes at context 528; a 2,048-token prefill)', async () => {
    const d = await device({ model: llama8b, blockSize: 16, numKvBlocks: 16_384 });
    const decodes = Array.from({ length: 256 }, (_, i) => sequence([5], 527, Array.from({ length: 33 }, (_, j) => i * 33 + j)));
    const prefill = [sequence(prompt(1, 2048, 128_256), 0, Array.from({ length: 128 }, (_, j) => 9000 + j))];
    const measure = (batch: typeof decodes, reps: number) => {
      for (let i = 0; i < 20; i++) d.computeStep(batch); // warm up the JIT
      const t0 = performance.now();
      let modelled = 0;
      for (let i = 0; i < reps; i++) modelled += d.computeStep(batch).stepTimeMs;
      const hostMs = (performance.now() - t0) / reps;
      return { hostMs, modelledMs: modelled / reps };
    };
    const decode = measure(decodes, 200);
    const pre = measure(prefill, 100);
    console.log(
      `host cost per step: 256 decodes ${(decode.hostMs * 1e3).toFixed(0)} µs of ${decode.modelledMs.toFixed(2)} ms modelled (${((decode.hostMs / decode.modelledMs) * 100).toFixed(2)} %); ` +
        `2,048-token prefill ${(pre.hostMs * 1e3).toFixed(0)} µs of ${pre.modelledMs.toFixed(2)} ms (${((pre.hostMs / pre.modelledMs) * 100).toFixed(2)} %)`,
    );
    // Ratios, not absolute times: generous enough for a loaded CI machine.
    expect(decode.hostMs / decode.modelledMs).toBeLessThan(0.25);
    expect(pre.hostMs / pre.modelledMs).toBeLessThan(0.25);
  });
});
