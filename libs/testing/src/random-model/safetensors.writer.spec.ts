import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseSafetensors } from '../test-support/safetensors.reader.js';
import { encodeSafetensors, writeSafetensorsStream, type TensorToWrite } from './safetensors.writer.js';

describe('encodeSafetensors', () => {
  const tensors: TensorToWrite[] = [
    { name: 'a', dtype: 'F32', shape: [2, 3], data: new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer) },
    { name: 'b.weight', dtype: 'BF16', shape: [3], data: Uint8Array.from([0x80, 0x3f, 0x00, 0xc0, 0x00, 0x3f]) },
    { name: 'c', dtype: 'F16', shape: [1, 1], data: Uint8Array.from([0x00, 0x3c]) },
  ];

  it('writes an 8-byte little-endian header length, a JSON header and contiguous data in order', () => {
    const file = parseSafetensors(encodeSafetensors(tensors, { format: 'pt' }));
    expect(file.metadata).toEqual({ format: 'pt' });
    expect(file.header).toEqual({
      a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
      'b.weight': { dtype: 'BF16', shape: [3], data_offsets: [24, 30] },
      c: { dtype: 'F16', shape: [1, 1], data_offsets: [30, 32] },
    });
    // The data section starts 8-byte aligned and ends at the file's end.
    expect(file.dataStart % 8).toBe(0);
    expect(file.fileBytes).toBe(file.dataStart + 32);
    expect([...new Float32Array(Uint8Array.from(file.bytesOf('a')).buffer)]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...file.bytesOf('b.weight')]).toEqual([0x80, 0x3f, 0x00, 0xc0, 0x00, 0x3f]);
    expect([...file.bytesOf('c')]).toEqual([0x00, 0x3c]);
  });

  it('pads the header with spaces, whatever its length', () => {
    for (const name of ['x', 'xy', 'xyz', 'wxyz', 'vwxyz', 'uvwxyz', 'tuvwxyz', 'stuvwxyz']) {
      const buffer = encodeSafetensors([{ name, dtype: 'BF16', shape: [1], data: Uint8Array.from([0, 0]) }]);
      const file = parseSafetensors(buffer);
      expect(file.dataStart % 8).toBe(0);
      expect(buffer.subarray(8, file.dataStart).toString('utf8')).toMatch(/^\{.*\} *$/);
      expect(Object.keys(file.header)).toEqual([name]);
    }
  });

  it('has no __metadata__ entry without metadata', () => {
    expect(parseSafetensors(encodeSafetensors(tensors)).metadata).toBeUndefined();
  });

  it('refuses data whose size does not match shape and dtype, and repeated names', () => {
    expect(() => encodeSafetensors([{ name: 'a', dtype: 'BF16', shape: [2, 2], data: new Uint8Array(6) }])).toThrow(/needs 8 bytes, got 6/);
    expect(() => encodeSafetensors([tensors[2]!, tensors[2]!])).toThrow(/reserved or repeated/);
    expect(() => encodeSafetensors([{ ...tensors[2]!, name: '__metadata__' }])).toThrow(/reserved or repeated/);
  });
});

describe('writeSafetensorsStream', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'safetensors-stream-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const a = new Float32Array([1, 2, 3, 4, 5, 6]);
  const b = Uint8Array.from([0x80, 0x3f, 0x00, 0xc0, 0x00, 0x3f]);

  it('writes the same bytes as encodeSafetensors, whatever the pieces', () => {
    const file = path.join(dir, 'pieces.safetensors');
    const size = writeSafetensorsStream(file, [
      // a in three uneven pieces, b in one
      { name: 'a', dtype: 'F32', shape: [2, 3], *chunks() { const bytes = new Uint8Array(a.buffer); yield bytes.subarray(0, 5); yield bytes.subarray(5, 5); yield bytes.subarray(5); } },
      { name: 'b', dtype: 'BF16', shape: [3], chunks: () => [b] },
    ], { format: 'pt' });
    expect(size).toBe(30);
    const whole = encodeSafetensors([{ name: 'a', dtype: 'F32', shape: [2, 3], data: new Uint8Array(a.buffer) }, { name: 'b', dtype: 'BF16', shape: [3], data: b }], { format: 'pt' });
    expect(fs.readFileSync(file).equals(whole)).toBe(true);
  });

  it('refuses a source whose pieces do not add up to its shape', () => {
    expect(() => writeSafetensorsStream(path.join(dir, 'short.safetensors'), [{ name: 'a', dtype: 'BF16', shape: [2, 2], chunks: () => [new Uint8Array(6)] }])).toThrow(/a: shape \[2, 2\] BF16 needs 8 bytes, got 6/);
  });
});
