// Structured output and tool calling: JSON that validates against a schema (streamed and not), a
// regex, a choice list, a schema the server refuses, and a tool-call round trip. The grammar
// does all the work: the bundled stories260k model cannot write JSON by itself.
//   node examples/dist/structured-output.js
// The tool-call part needs a model whose chat template renders tools (Llama 3.1, Qwen3/Hermes);
// on one that has none the server refuses `tools` with a 400, and this example says so.
import OpenAI from 'openai';
import { deepinferClient, servedModel } from './server.js';

const client = deepinferClient();
const model = await servedModel(client);

const PERSON = {
  type: 'object',
  properties: {
    name: { type: 'string', pattern: '^[A-Z][a-z]{1,8}$' },
    age: { type: 'integer', minimum: 1, maximum: 99 },
    pet: { type: 'string', enum: ['cat', 'dog', 'bird'] },
    friends: { type: 'array', items: { type: 'string', maxLength: 8 }, minItems: 1, maxItems: 3 },
    home: { type: 'object', properties: { town: { type: 'string', maxLength: 12 } }, required: ['town'], additionalProperties: false },
  },
  required: ['name', 'age', 'pet', 'friends', 'home'],
  additionalProperties: false,
};
const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Tell me about a child in the story.' }];

const person = await client.chat.completions.create({
  model,
  messages,
  max_tokens: 200,
  seed: 7,
  response_format: { type: 'json_schema', json_schema: { name: 'person', schema: PERSON, strict: true } },
});
console.log(`json_schema: ${person.choices[0]!.message.content}  [finish_reason=${person.choices[0]!.finish_reason}]`);

process.stdout.write('json_schema, streamed: ');
const stream = await client.chat.completions.create({
  model,
  messages,
  max_tokens: 200,
  seed: 8,
  stream: true,
  response_format: { type: 'json_schema', json_schema: { name: 'person', schema: PERSON, strict: true } },
});
let streamed = '';
for await (const chunk of stream) {
  const choice = chunk.choices[0];
  streamed += choice?.delta.content ?? '';
  if (choice?.finish_reason) process.stdout.write(`${streamed}  [finish_reason=${choice.finish_reason}; parses: ${parses(streamed)}]\n`);
}

// vLLM's extensions (extra body fields the official client passes through).
const regex = await client.completions.create({ model, prompt: 'My phone number is', max_tokens: 20, temperature: 0, guided_regex: '\\+1-[0-9]{3}-[0-9]{4}' } as OpenAI.CompletionCreateParamsNonStreaming);
console.log(`guided_regex \\+1-[0-9]{3}-[0-9]{4}: ${JSON.stringify(regex.choices[0]!.text)}`);
const choice = await client.completions.create({ model, prompt: 'The cat was', max_tokens: 5, temperature: 0, guided_choice: ['happy', 'sad', 'sleepy'] } as OpenAI.CompletionCreateParamsNonStreaming);
console.log(`guided_choice [happy, sad, sleepy]: ${JSON.stringify(choice.choices[0]!.text)}`);

try {
  await client.chat.completions.create({ model, messages, response_format: { type: 'json_schema', json_schema: { name: 'bad', schema: { type: 'integer', multipleOf: 3 } } } });
} catch (err) {
  if (err instanceof OpenAI.APIError) console.log(`unsupported schema: HTTP ${err.status}: ${err.message}`);
  else throw err;
}

const tools: OpenAI.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The weather forecast for a city',
      parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 10 }, days: { type: 'integer', minimum: 1, maximum: 7 } }, required: ['city', 'days'], additionalProperties: false },
    },
  },
];
const question: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];
try {
  const call = await client.chat.completions.create({ model, messages: question, tools, tool_choice: 'required', max_tokens: 100, seed: 1 });
  const message = call.choices[0]!.message;
  console.log(`tool call: ${JSON.stringify(message.tool_calls)}  [finish_reason=${call.choices[0]!.finish_reason}]`);
  const toolCall = message.tool_calls![0]!;
  const answer = await client.chat.completions.create({
    model,
    messages: [...question, message, { role: 'tool', tool_call_id: toolCall.id, content: '{"forecast": "sunny, 21 C"}' }],
    tools,
    max_tokens: 24,
    seed: 1,
  });
  console.log(`after the tool result: ${JSON.stringify(answer.choices[0]!.message.content)}  [finish_reason=${answer.choices[0]!.finish_reason}]`);
} catch (err) {
  if (err instanceof OpenAI.APIError) console.log(`tools: HTTP ${err.status}: ${err.message}`);
  else throw err;
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
