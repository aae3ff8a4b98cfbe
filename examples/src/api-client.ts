// An API client: a streamed chat completion with usage, logprobs, a stop string, and how
// errors look (OpenAI's shape, so the official client raises typed errors).
//   node examples/dist/api-client.js
import OpenAI from 'openai';
import { deepinferClient, servedModel } from './server.js';

const client = deepinferClient();
const model = await servedModel(client);

process.stdout.write('streamed: ');
const stream = await client.chat.completions.create({
  model,
  messages: [{ role: 'user', content: 'Once upon a time, there was a little dog' }],
  max_tokens: 64,
  temperature: 0.7,
  stop: ['.'],
  stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  const choice = chunk.choices[0];
  if (choice?.delta.content) process.stdout.write(choice.delta.content);
  if (choice?.finish_reason) process.stdout.write(`\n  [finish_reason=${choice.finish_reason}]`);
  if (chunk.usage) process.stdout.write(`\n  [usage ${JSON.stringify(chunk.usage)}]\n`);
}

const withLogprobs = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 3 });
for (const t of withLogprobs.choices[0]!.logprobs!.content!) {
  console.log(`token ${JSON.stringify(t.token)} logprob ${t.logprob.toFixed(3)} alternatives ${t.top_logprobs.map((a) => JSON.stringify(a.token)).join(' ')}`);
}

try {
  await client.completions.create({ model, prompt: 'x', temperature: 3 });
} catch (err) {
  if (err instanceof OpenAI.APIError) console.log(`a bad request: HTTP ${err.status}: ${err.message}`);
  else throw err;
}
