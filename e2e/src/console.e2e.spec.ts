/// <reference lib="dom" />
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { MODEL_NAME } from './support/golden.js';
import { REPO_ROOT, startStack, type Stack } from './support/stack.js';

/**
 * The console in a real browser: headless Chromium (Debian's `chromium`, driven over the
 * DevTools protocol by puppeteer-core) against the whole stack with an admin key. The dashboard
 * must show a nonzero batch and prefix-cache hits after traffic with a shared prefix; the
 * playground must stream an answer. Screenshots go to a temporary directory, and to docs/images/
 * when DEEPINFER_UPDATE_SCREENSHOTS=1.
 */
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const ADMIN_KEY = 'console-admin-secret';
const SHOTS_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-console-'));
const UPDATE_DOCS = process.env['DEEPINFER_UPDATE_SCREENSHOTS'] === '1';
/** Long enough to fill several 16-token KV blocks, so a second request finds them cached. */
const SHARED_PREFIX =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. ' +
  'One day, she saw a big red ball under a tree. She ran to the ball and kicked it very high. The ball flew over the fence';

async function screenshot(page: Page, name: string, forDocs = true): Promise<string> {
  const file = path.join(SHOTS_DIR, name);
  await page.screenshot({ path: file as `${string}.png`, type: 'png', fullPage: true });
  if (UPDATE_DOCS && forDocs) fs.copyFileSync(file, path.join(REPO_ROOT, 'docs', 'images', name));
  return file;
}

async function textOf(page: Page, testId: string): Promise<string> {
  return page.$eval(`[data-testid="${testId}"]`, (e) => e.textContent ?? '');
}

const toNumber = (text: string) => Number(text.replace(/[^0-9.]/g, ''));

describe('console in a browser', () => {
  let stack: Stack;
  let browser: Browser;
  let page: Page;
  let base: string;

  beforeAll(async () => {
    [stack, browser] = await Promise.all([
      startStack([], { DEEPINFER_ADMIN_KEY: ADMIN_KEY }),
      puppeteer.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--hide-scrollbars', '--window-size=1440,1020'],
        defaultViewport: { width: 1440, height: 1020, deviceScaleFactor: 1 },
      }),
    ]);
    base = `http://127.0.0.1:${stack.apiPort}`;
    page = await browser.newPage();
  });
  afterAll(async () => {
    await browser?.close();
    if (stack) await stack.stop('SIGINT');
  });

  const complete = (prompt: string, maxTokens: number) =>
    fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL_NAME, prompt, max_tokens: maxTokens, temperature: 0 }) }).then(async (r) => {
      expect(r.status).toBe(200);
      return r.json();
    });

  it('keeps the console data behind admin_key (OpenAI-style 401), and the page itself public', async () => {
    const refused = await fetch(`${base}/console/api/snapshot`);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({ error: expect.objectContaining({ type: 'authentication_error', code: 'invalid_admin_key' }) });
    expect((await fetch(`${base}/console/api/snapshot`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const allowed = await fetch(`${base}/console/api/snapshot`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(allowed.status).toBe(200);
    const snapshot = (await allowed.json()) as { services: { service: string; status: string }[]; executors: { device: string }[] };
    expect(new Set(snapshot.services.map((s) => s.service))).toEqual(new Set(['api', 'tokenizer', 'scheduler', 'executor']));
    expect(snapshot.executors).toEqual([expect.objectContaining({ device: expect.stringMatching(/^cpu/), status: 'ready' })]);
    const html = await fetch(`${base}/console`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/text\/html/);
    expect(await html.text()).not.toMatch(/(src|href)="https?:/);
    expect((await fetch(`${base}/console/assets/console.js`)).status).toBe(200);
    expect((await fetch(`${base}/console/assets/..%2Fconsole.controller.js`)).status).toBe(404);
  });

  it('dashboard: shows the replicas, a nonzero batch and prefix-cache hits after traffic with a shared prefix', async () => {
    await page.goto(`${base}/console`, { waitUntil: 'load' });
    // The admin key is asked for in the page and kept in the tab's sessionStorage.
    await page.waitForSelector('[data-testid="admin-login"]:not(.hidden)', { timeout: 10000 });
    await page.type('[data-testid="admin-key"]', ADMIN_KEY);
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid="admin-login"].hidden', { timeout: 10000 });

    // Traffic while the page watches: the same long prompt twice (the second finds its blocks
    // in the prefix cache), then rounds of concurrent requests (batches of several).
    await complete(SHARED_PREFIX, 16);
    await complete(SHARED_PREFIX, 16);
    for (let round = 0; round < 6; round++) {
      await Promise.all(Array.from({ length: 8 }, (_, i) => complete(`${SHARED_PREFIX} and a ${['cat', 'dog', 'bird', 'frog'][i % 4]} number ${round * 8 + i}`, 48)));
      await new Promise((r) => setTimeout(r, 700));
    }

    await page.waitForFunction(
      () => {
        const n = (id: string) => Number((document.querySelector(`[data-testid="${id}"]`)?.textContent ?? '').replace(/[^0-9.]/g, ''));
        return n('batch-size') > 0 && n('prefix-hit-tokens') > 0;
      },
      { timeout: 20000, polling: 200 },
    );
    expect(toNumber(await textOf(page, 'batch-size'))).toBeGreaterThan(0);
    expect(toNumber(await textOf(page, 'prefix-hit-tokens'))).toBeGreaterThan(0);
    expect(await textOf(page, 'prefix-hit-rate')).toMatch(/^\d+\.\d%$/);
    // Every service answered, with its status; the executor's device, memory plan and step times.
    const services = await page.$$eval('[data-testid="services"] tbody tr', (rows) => rows.map((r) => [r.getAttribute('data-service'), r.querySelector('.badge')?.textContent]));
    expect(services).toEqual(expect.arrayContaining([['api', 'ok'], ['tokenizer', 'ok'], ['scheduler', 'ok'], ['executor', 'ok']]));
    expect(await textOf(page, 'executor-device')).toMatch(/^cpu\S* · cpu\S* backend/);
    expect(await textOf(page, 'memory-plan')).toMatch(/weights \d.+KV cache \d.+of \d.+ host memory/);
    expect(await page.$$eval('[data-testid="step-time-histogram"] div', (bars) => bars.some((b) => parseFloat((b as HTMLElement).style.height) > 0))).toBe(true);
    expect(toNumber(await textOf(page, 'kv-free'))).toBeGreaterThan(0);
    // Traffic still running while a few more samples come in, so the plots and the rates show it
    // in the picture.
    let busy = true;
    const background = Promise.all(Array.from({ length: 4 }, async (_, i) => {
      while (busy) await complete(`${SHARED_PREFIX} and then ${i}`, 64);
    }));
    try {
      await new Promise((r) => setTimeout(r, 4000));
      await page.waitForFunction(() => Number(document.querySelector('[data-testid="tokens-per-second"]')?.textContent?.replace(/[^0-9.]/g, '')) > 0, { timeout: 10000 });
      const file = await screenshot(page, 'console-dashboard.png');
      expect(fs.statSync(file).size).toBeGreaterThan(20_000);
    } finally {
      busy = false;
      await background;
    }
  });

  it('playground: streams an answer into the page, then shows its token count and timing', async () => {
    await page.goto(`${base}/console#playground`, { waitUntil: 'load' });
    await page.waitForFunction(() => /stories260k/.test(document.querySelector('[data-testid="model-name"]')?.textContent ?? ''), { timeout: 10000 });
    // Greedy, so the answer is long enough to arrive in many chunks.
    await page.$eval('#p-temperature', (e) => {
      (e as HTMLInputElement).value = '0';
      e.dispatchEvent(new Event('input'));
    });
    await page.$eval('[data-testid="max-tokens"]', (e) => ((e as HTMLInputElement).value = '96'));
    // Record every text the assistant's message shows, as the DOM changes.
    await page.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { seenLengths: number[] }).seenLengths = seen;
      new MutationObserver((records) => {
        for (const r of records) {
          const target = r.target instanceof Element ? r.target : r.target.parentElement;
          if (!target?.closest('[data-testid="message-assistant"]')) continue;
          r.addedNodes.forEach((node) => {
            if (node.nodeType === Node.TEXT_NODE) seen.push((node as Text).data.length);
          });
        }
      }).observe(document.getElementById('messages')!, { subtree: true, childList: true, characterData: true });
    });
    await page.type('[data-testid="playground-input"]', 'Tell me a story about a dog named Max');
    await page.click('[data-testid="playground-send"]');
    await page.waitForSelector('.msg.assistant[data-state="done"]', { timeout: 30000 });

    const answer = await textOf(page, 'message-assistant');
    const seen = await page.evaluate(() => (window as unknown as { seenLengths: number[] }).seenLengths);
    expect(answer.length).toBeGreaterThan(20);
    // Streamed: the text grew through several different lengths before reaching the whole answer.
    expect(new Set(seen.filter((n) => n > 0)).size).toBeGreaterThan(3);
    expect(Math.max(...seen)).toBe(answer.length);
    expect(Number(await page.$eval('.msg.assistant', (e) => e.getAttribute('data-chunks')))).toBeGreaterThan(3);
    // The final token count (from the stream's usage chunk) and timing.
    const tokens = Number(await textOf(page, 'completion-tokens'));
    expect(tokens).toBeGreaterThan(3);
    expect(tokens).toBeLessThanOrEqual(96);
    expect(Number(await textOf(page, 'ttft-ms'))).toBeGreaterThanOrEqual(0);
    expect(Number(await textOf(page, 'total-ms'))).toBeGreaterThanOrEqual(Number(await textOf(page, 'ttft-ms')));
    await screenshot(page, 'console-playground.png');
  });

  it('serves /openapi.json: an OpenAPI 3 document of the public routes with their request schemas, generated from the code, browsable at /docs', async () => {
    const res = await fetch(`${base}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      info: { title: string; version: string };
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { $ref?: string } }> }; security?: unknown[] }>>;
      components: { schemas: Record<string, { type: string; required?: string[]; properties: Record<string, Record<string, unknown>> }> };
    };
    expect(doc.openapi).toMatch(/^3\.0\.\d+$/);
    expect(doc.info.title).toBe('DeepInfer');
    for (const [route, method] of [['/v1/completions', 'post'], ['/v1/chat/completions', 'post'], ['/v1/models', 'get'], ['/tokenize', 'post'], ['/detokenize', 'post'], ['/health', 'get'], ['/metrics', 'get'], ['/version', 'get']] as const) {
      expect({ route, method, present: Boolean(doc.paths[route]?.[method]) }).toEqual({ route, method, present: true });
    }
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/console'))).toEqual([]);
    const bodyRef = (route: string) => doc.paths[route]!['post']!.requestBody!.content['application/json']!.schema.$ref;
    expect(bodyRef('/v1/chat/completions')).toBe('#/components/schemas/ChatCompletionRequest');
    expect(bodyRef('/v1/completions')).toBe('#/components/schemas/CompletionRequest');
    const chat = doc.components.schemas['ChatCompletionRequest']!;
    expect(chat.required).toEqual(['messages']);
    expect(chat.properties['temperature']).toEqual({ type: 'number', minimum: 0, maximum: 2 });
    expect(chat.properties['max_completion_tokens']).toEqual({ type: 'integer', minimum: 1 });
    expect(chat.properties['stream_options']).toMatchObject({ type: 'object', properties: { include_usage: { type: 'boolean' } } });
    expect(Object.keys(chat.properties)).toEqual(expect.arrayContaining(['model', 'messages', 'max_tokens', 'n', 'stream', 'top_p', 'top_k', 'seed', 'stop', 'logprobs', 'top_logprobs']));
    expect(doc.components.schemas['CompletionRequest']!.required).toEqual(['prompt']);

    // Every reference resolves.
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(4);
    for (const ref of refs) expect(doc.components.schemas[ref.split('/').pop()!.replace('"', '')]).toBeDefined();
    // Every route needing api_key says so (from the routes' guards), and only those.
    const secured = Object.entries(doc.paths).flatMap(([p, ops]) => Object.entries(ops).filter(([, op]) => (op as { security?: unknown }).security).map(([m]) => `${m} ${p}`));
    expect(secured.sort()).toEqual(['get /v1/models', 'post /detokenize', 'post /tokenize', 'post /v1/chat/completions', 'post /v1/completions']);

    // /docs renders the document in the browser: the routes, and a request schema as a table.
    await page.goto(`${base}/docs`, { waitUntil: 'load' });
    await page.waitForSelector('[data-route="POST /v1/chat/completions"]', { timeout: 10000 });
    await page.click('[data-route="POST /v1/chat/completions"] summary');
    const temperature = await page.$eval('[data-schema="ChatCompletionRequest"] tr[data-property="temperature"]', (row) => row.textContent);
    expect(temperature).toContain('≥ 0, ≤ 2');
    await screenshot(page, 'api-docs.png', false);
    expect(await page.$$eval('script[src], link[href]', (els) => els.map((e) => e.getAttribute('src') ?? e.getAttribute('href') ?? '').filter((u) => /^https?:/.test(u)))).toEqual([]);
  });
});
