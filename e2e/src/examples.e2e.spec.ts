import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, startStack, type Stack } from './support/stack.js';

/**
 * The runnable clients of examples/README.md, run as a user runs them (`node examples/dist/…`
 * with DEEPINFER_URL) against one stack on the bundled stories260k model: each must exit 0 and
 * print what its comment promises.
 */
const run = promisify(execFile);

describe('examples against a running server (stories260k)', () => {
  let stack: Stack;
  let tmp: string;

  const example = async (name: string, args: string[] = []): Promise<string> => {
    const { stdout } = await run(process.execPath, [path.join(REPO_ROOT, 'examples/dist', `${name}.js`), ...args], {
      cwd: tmp,
      env: { ...process.env, DEEPINFER_URL: `http://127.0.0.1:${stack.apiPort}` },
      timeout: 120000,
    });
    return stdout;
  };
  const lineOf = (out: string, prefix: string): string => {
    const line = out.split('\n').find((l) => l.startsWith(prefix));
    if (line === undefined) throw new Error(`no line starting with ${JSON.stringify(prefix)} in:\n${out}`);
    return line.slice(prefix.length);
  };

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-examples-'));
    stack = await startStack();
  });
  afterAll(async () => {
    if (stack) await stack.stop('SIGINT');
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('basic-inference: 48 greedy tokens, and a seeded sample that is the same every run', async () => {
    const first = await example('basic-inference');
    const second = await example('basic-inference');
    expect(JSON.parse(lineOf(first, 'usage:   '))).toMatchObject({ completion_tokens: 48 });
    expect(lineOf(first, 'greedy:  ')).toBe(lineOf(second, 'greedy:  '));
    expect(lineOf(first, 'sampled: ')).toBe(lineOf(second, 'sampled: '));
  });

  it('api-client: a streamed chat with usage, logprobs, and a bad request as HTTP 400', async () => {
    const out = await example('api-client');
    expect(out).toMatch(/\[finish_reason=(stop|length)\]/);
    expect(out).toMatch(/\[usage \{"prompt_tokens":\d+,"completion_tokens":\d+/);
    expect(out.match(/^token "/gm)).toHaveLength(4);
    expect(lineOf(out, 'a bad request: ')).toMatch(/^HTTP 400: /);
  });

  it('structured-output: schema-valid JSON streamed and not, a regex, a choice, a refused schema; tools need a template that renders them', async () => {
    const out = await example('structured-output');
    for (const prefix of ['json_schema: ', 'json_schema, streamed: ']) {
      const [json, finish] = lineOf(out, prefix).split('  [');
      const person = JSON.parse(json!) as { name: string; age: number; pet: string; friends: string[]; home: { town: string } };
      expect(Object.keys(person)).toEqual(['name', 'age', 'pet', 'friends', 'home']);
      expect(person.name).toMatch(/^[A-Z][a-z]{1,8}$/);
      expect(person.age).toBeGreaterThanOrEqual(1);
      expect(person.age).toBeLessThanOrEqual(99);
      expect(['cat', 'dog', 'bird']).toContain(person.pet);
      expect(person.friends.length).toBeGreaterThanOrEqual(1);
      expect(person.friends.length).toBeLessThanOrEqual(3);
      expect(person.home.town.length).toBeLessThanOrEqual(12);
      expect(finish).toMatch(/^finish_reason=stop/);
    }
    expect(lineOf(out, 'json_schema, streamed: ')).toContain('parses: true');
    expect(lineOf(out, 'guided_regex \\+1-[0-9]{3}-[0-9]{4}: ')).toMatch(/^"\+1-\d{3}-\d{4}"$/);
    expect(['"happy"', '"sad"', '"sleepy"']).toContain(lineOf(out, 'guided_choice [happy, sad, sleepy]: '));
    expect(lineOf(out, 'unsupported schema: ')).toMatch(/^HTTP 400: .*multipleOf is not supported/);
    // stories260k's template renders no tools: refused, not ignored (tool-calling.e2e covers the round trip).
    expect(lineOf(out, 'tools: ')).toMatch(/^HTTP 400: .*chat template shows no known format/);
  });

  it('batch-5090 (scaled down): every prompt answered', async () => {
    const out = await example('batch-5090', ['12', '6']);
    expect(out).toMatch(/^12 prompts, concurrency 6: \d+ tokens in [\d.]+ s = \d+ tokens\/s, 0 failed$/m);
    expect(Number(/: (\d+) tokens in/.exec(out)![1])).toBeGreaterThan(0);
  });

  it('custom-configuration: writes a YAML file the server would start on', async () => {
    const out = await example('custom-configuration', ['my.yaml']);
    expect(out).toContain('max_num_seqs came from: flag');
    const yaml = fs.readFileSync(path.join(tmp, 'my.yaml'), 'utf8');
    expect(yaml).toMatch(/^max_num_seqs: 64$/m);
    expect(yaml).toMatch(/^served_model_name: my-stories$/m);
  });
});
