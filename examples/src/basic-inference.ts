// Basic inference: one greedy completion and one sampled completion.
//   npm start                                   # in one terminal: the server
//   npx nx run @deepinfer/examples:build && node examples/dist/basic-inference.js
import { deepinferClient, servedModel } from './server.js';

const client = deepinferClient();
const model = await servedModel(client);

const greedy = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 48, temperature: 0 });
console.log(`greedy:  ${JSON.stringify(greedy.choices[0]!.text)}`);
console.log(`usage:   ${JSON.stringify(greedy.usage)}`);

const sampled = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 48, temperature: 0.8, top_p: 0.95, seed: 42 });
console.log(`sampled: ${JSON.stringify(sampled.choices[0]!.text)} (seed 42: the same every run)`);
