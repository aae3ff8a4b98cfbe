import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ModelTokenizer } from './model-tokenizer.js';
import { STORIES_260K_DIR } from './test-support/fixture-paths.js';
import { loadTokenizerFiles } from './tokenizer-files.loader.js';
import { TokenizerLoadError } from './tokenizer.errors.js';

describe('loadTokenizerFiles', () => {
  let dir: string;
  let tokenizerJson: string;
  let config: Record<string, unknown>;

  beforeAll(async () => {
    tokenizerJson = await readFile(path.join(STORIES_260K_DIR, 'tokenizer.json'), 'utf8');
    config = JSON.parse(await readFile(path.join(STORIES_260K_DIR, 'tokenizer_config.json'), 'utf8'));
  });

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tokenizer-core-'));
    await writeFile(path.join(dir, 'tokenizer.json'), tokenizerJson);
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the bundled model with its template and generation eos ids', async () => {
    const files = await loadTokenizerFiles(STORIES_260K_DIR);
    expect([...files.chatTemplates.keys()]).toEqual(['default']);
    expect(files.generationConfig?.eos_token_id).toEqual([2, 1]);
  });

  it('reads a named template list', async () => {
    const named = { ...config, chat_template: [{ name: 'default', template: 'D' }, { name: 'tool_use', template: 'T' }] };
    await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(named));
    const files = await loadTokenizerFiles(dir);
    expect(Object.fromEntries(files.chatTemplates)).toEqual({ default: 'D', tool_use: 'T' });
  });

  it('prefers chat_template.jinja and adds additional_chat_templates/*.jinja', async () => {
    await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    await writeFile(path.join(dir, 'chat_template.jinja'), '{{ messages[0].content }}!');
    await mkdir(path.join(dir, 'additional_chat_templates'));
    await writeFile(path.join(dir, 'additional_chat_templates', 'rag.jinja'), 'R');
    const tokenizer = await ModelTokenizer.fromDirectory(dir);
    expect(tokenizer.chatTemplateNames.sort()).toEqual(['default', 'rag']);
    expect(tokenizer.renderChat([{ role: 'user', content: 'hi' }])).toBe('hi!');
  });

  it('honours add_bos_token / add_eos_token of a Llama tokenizer_config, as transformers rebuilds the post-processor', async () => {
    await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, add_bos_token: false, add_eos_token: true }));
    const tokenizer = await ModelTokenizer.fromDirectory(dir);
    expect(tokenizer.encode('Once upon a time')).toEqual([403, 407, 261, 378, 2]);
    expect(tokenizer.encode('Once upon a time', { addSpecialTokens: false })).toEqual([403, 407, 261, 378]);
    expect(tokenizer.addsBosToken).toBe(false);
  });

  it('works without tokenizer_config.json (no template, no bos from config)', async () => {
    const tokenizer = await ModelTokenizer.fromDirectory(dir);
    expect(tokenizer.hasChatTemplate).toBe(false);
    expect(tokenizer.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
  });

  it('fails with tokenizer_load_failed on a missing or broken tokenizer.json', async () => {
    await expect(loadTokenizerFiles(path.join(dir, 'nope'))).rejects.toThrow(TokenizerLoadError);
    await writeFile(path.join(dir, 'tokenizer.json'), '{ nope');
    await expect(loadTokenizerFiles(dir)).rejects.toMatchObject({ code: 'tokenizer_load_failed', isClientError: false });
  });
});
