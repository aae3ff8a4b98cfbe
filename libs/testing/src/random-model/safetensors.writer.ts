import fs from 'node:fs';

/** The safetensors dtypes this writer is asked for (the engine reads these three). */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';

export const BYTES_PER_ELEMENT: Readonly<Record<SafetensorsDtype, number>> = { F32: 4, F16: 2, BF16: 2 };

export interface TensorToWrite {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  /** row-major, outermost first (PyTorch's order) */
  readonly shape: readonly number[];
  /** little-endian element bytes: product(shape) × BYTES_PER_ELEMENT[dtype] of them */
  readonly data: Uint8Array;
}

/** One entry of a safetensors header. */
export interface SafetensorsHeaderEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  /** [begin, end) byte offsets into the data section, which starts right after the header */
  data_offsets: [number, number];
}

/**
 * A tensor whose bytes are produced in pieces, in order: how a multi-gigabyte tensor is written
 * without holding it (or its shard) in memory. The pieces' lengths must add up to
 * product(shape) × BYTES_PER_ELEMENT[dtype].
 */
export interface TensorSource {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  chunks(): Iterable<Uint8Array>;
}

/**
 * The bytes before the data section: an 8-byte little-endian header length, then the JSON header
 * naming each tensor's dtype, shape and byte range (tensors back to back in the given order).
 * The header is padded with spaces to a multiple of 8 bytes (as the reference writer does) so
 * that the data section starts 8-byte aligned for readers that map the file.
 */
export function safetensorsHeader(tensors: readonly Omit<TensorSource, 'chunks'>[], metadata: Readonly<Record<string, string>> = {}): { bytes: Buffer; dataBytes: number[] } {
  const header: Record<string, SafetensorsHeaderEntry | Readonly<Record<string, string>>> = {};
  if (Object.keys(metadata).length > 0) header['__metadata__'] = metadata;
  let offsetBytes = 0;
  const dataBytes: number[] = [];
  for (const tensor of tensors) {
    if (tensor.name === '__metadata__' || tensor.name in header) throw new Error(`tensor name ${tensor.name} is reserved or repeated`);
    const numBytes = tensor.shape.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[tensor.dtype];
    header[tensor.name] = { dtype: tensor.dtype, shape: [...tensor.shape], data_offsets: [offsetBytes, offsetBytes + numBytes] };
    dataBytes.push(numBytes);
    offsetBytes += numBytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));
  return { bytes: Buffer.concat([prefix, headerBytes]), dataBytes };
}

function checkSize(name: string, shape: readonly number[], dtype: SafetensorsDtype, expected: number, got: number): void {
  if (got !== expected) throw new Error(`tensor ${name}: shape [${shape.join(', ')}] ${dtype} needs ${expected} bytes, got ${got}`);
}

/** A whole safetensors file in memory (small tensors: tests, fixtures). */
export function encodeSafetensors(tensors: readonly TensorToWrite[], metadata: Readonly<Record<string, string>> = {}): Buffer {
  const { bytes, dataBytes } = safetensorsHeader(tensors, metadata);
  tensors.forEach((t, i) => checkSize(t.name, t.shape, t.dtype, dataBytes[i]!, t.data.byteLength));
  return Buffer.concat([bytes, ...tensors.map((t) => t.data)]);
}

/**
 * Writes a safetensors file piece by piece (memory stays at one chunk whatever the file's size);
 * returns the data section's size in bytes. A source whose pieces do not add up to its size
 * throws, leaving a truncated file behind.
 */
export function writeSafetensorsStream(path: string, tensors: readonly TensorSource[], metadata?: Readonly<Record<string, string>>): number {
  const { bytes, dataBytes } = safetensorsHeader(tensors, metadata);
  const fd = fs.openSync(path, 'w');
  try {
    fs.writeSync(fd, bytes);
    tensors.forEach((t, i) => {
      let written = 0;
      for (const chunk of t.chunks()) {
        for (let at = 0; at < chunk.byteLength; ) at += fs.writeSync(fd, chunk, at);
        written += chunk.byteLength;
      }
      checkSize(t.name, t.shape, t.dtype, dataBytes[i]!, written);
    });
  } finally {
    fs.closeSync(fd);
  }
  return dataBytes.reduce((a, b) => a + b, 0);
}

/** Writes `encodeSafetensors(tensors, metadata)` to `path`; returns the data section's size in bytes. */
export function writeSafetensorsFile(path: string, tensors: readonly TensorToWrite[], metadata?: Readonly<Record<string, string>>): number {
  fs.writeFileSync(path, encodeSafetensors(tensors, metadata));
  return tensors.reduce((sum, t) => sum + t.data.byteLength, 0);
}
