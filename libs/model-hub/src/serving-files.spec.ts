import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { missingServingFiles, planServingFiles, shardsOfIndex } from './serving-files.js';

describe('planServingFiles', () => {
  it('takes the metadata files present and, without an index, every top-level *.safetensors', () => {
    const plan = planServingFiles(['README.md', 'config.json', 'tokenizer.json', 'chat_template.jinja', 'model.safetensors', 'onnx/model.safetensors', 'model.gguf']);
    expect(plan).toEqual({
      metadataFiles: ['config.json', 'tokenizer.json', 'chat_template.jinja'],
      indexFile: undefined,
      safetensorsFiles: ['model.safetensors'],
      otherWeightFiles: ['model.gguf'],
    });
  });

  it('notes the index when there is one (the shards then come from it)', () => {
    expect(planServingFiles(['model.safetensors.index.json', 'model-00001-of-00001.safetensors']).indexFile).toBe('model.safetensors.index.json');
  });

  it('finds no safetensors in a PyTorch-only repository', () => {
    const plan = planServingFiles(['config.json', 'pytorch_model.bin', 'consolidated.00.pth']);
    expect(plan.indexFile).toBeUndefined();
    expect(plan.safetensorsFiles).toEqual([]);
    expect(plan.otherWeightFiles).toEqual(['consolidated.00.pth', 'pytorch_model.bin']);
  });
});

describe('shardsOfIndex', () => {
  it('returns the distinct shards in name order', () => {
    expect(shardsOfIndex(JSON.stringify({ weight_map: { a: 'b.safetensors', c: 'a.safetensors', d: 'b.safetensors' } }))).toEqual(['a.safetensors', 'b.safetensors']);
  });

  it.each([
    ['not JSON', '{', /not valid JSON/],
    ['no weight_map', '{}', /no weight_map/],
    ['a path that leaves the repository', JSON.stringify({ weight_map: { a: '../x.safetensors' } }), /unusable shard/],
    ['no shards', JSON.stringify({ weight_map: {} }), /lists no shards/],
  ])('rejects an index with %s', (_what, json, message) => {
    expect(() => shardsOfIndex(json)).toThrow(message);
  });
});

describe('missingServingFiles', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-serving-files-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (file: string, content = '{}') => fs.writeFileSync(path.join(dir, file), content);

  it('lists config.json and the weights until they are there, following the index', () => {
    expect(missingServingFiles(dir)).toEqual(['config.json', '*.safetensors']);
    write('config.json');
    write('model.safetensors.index.json', JSON.stringify({ weight_map: { a: 'one.safetensors', b: 'two.safetensors' } }));
    write('one.safetensors');
    expect(missingServingFiles(dir)).toEqual(['two.safetensors']);
    fs.symlinkSync('nowhere', path.join(dir, 'two.safetensors')); // a symlink to a missing blob is not a file
    expect(missingServingFiles(dir)).toEqual(['two.safetensors']);
    fs.rmSync(path.join(dir, 'two.safetensors'));
    write('two.safetensors');
    expect(missingServingFiles(dir)).toEqual([]);
  });
});
