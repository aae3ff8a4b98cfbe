// A batch run sized for the RTX 5090 profile (configs/nvidia_5090.yaml: 512 sequences, 8192
// batched tokens, chunked prefill, prefix caching): many prompts at once, sharing a system
// prompt so the prefix cache serves it once. Start the server on the card with
//   node bin/deepinfer.js serve --model meta-llama/Llama-3.1-8B-Instruct   (profile applies itself)
// then:  node examples/dist/batch-5090.js [numPrompts] [concurrency]
import { deepinferClient, servedModel } from './server.js';

const numPrompts = Number(process.argv[2] ?? 256);
const concurrency = Number(process.argv[3] ?? 128);
const client = deepinferClient();
const model = await servedModel(client);
const system = 'You are a concise storyteller. Every story has a beginning, a middle and an end, and fits in a few sentences.';
const topics = ['a dragon', 'a lost kitten', 'a lighthouse', 'a robot', 'a garden', 'a storm', 'a train', 'a violin'];

const started = performance.now();
let next = 0;
let tokens = 0;
let failed = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < numPrompts) {
      const i = next++;
      try {
        const r = await client.chat.completions.create({
          model,
          messages: [{ role: 'system', content: system }, { role: 'user', content: `Tell a story about ${topics[i % topics.length]} (#${i}).` }],
          max_tokens: 128,
          temperature: 0.7,
          seed: i,
        });
        tokens += r.usage?.completion_tokens ?? 0;
      } catch {
        failed++;
      }
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
console.log(`${numPrompts} prompts, concurrency ${concurrency}: ${tokens} tokens in ${seconds.toFixed(1)} s = ${(tokens / seconds).toFixed(0)} tokens/s, ${failed} failed`);
