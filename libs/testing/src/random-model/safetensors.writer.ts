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
 * Encodes a safetensors file: an 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and byte range, then the tensors' bytes back to back in the given order.
 * The header is padded with spaces to a multiple of 8 bytes (as the reference writer does) so
 * that the data section starts 8-byte aligned for readers that map the file.
 */
export function encodeSafetensors(tensors: readonly TensorToWrite[], metadata: Readonly<Record<string, string>> = {}): Buffer {
  const header: Record<string, SafetensorsHeaderEntry | Readonly<Record<string, string>>> = {};
  if (Object.keys(metadata).length > 0) header['__metadata__'] = metadata;
  let offsetBytes = 0;
  for (const tensor of tensors) {
    if (tensor.name === '__metadata__' || tensor.name in header) throw new Error(`tensor name ${tensor.name} is reserved or repeated`);
    const numElements = tensor.shape.reduce((a, b) => a * b, 1);
    const numBytes = numElements * BYTES_PER_ELEMENT[tensor.dtype];
    if (tensor.data.byteLength !== numBytes) {
      throw new Error(`tensor ${tensor.name}: shape [${tensor.shape.join(', ')}] ${tensor.dtype} needs ${numBytes} bytes, got ${tensor.data.byteLength}`);
    }
    header[tensor.name] = { dtype: tensor.dtype, shape: [...tensor.shape], data_offsets: [offsetBytes, offsetBytes + numBytes] };
    offsetBytes += numBytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));
  return Buffer.concat([prefix, headerBytes, ...tensors.map((t) => t.data)]);
}

/** Writes `encodeSafetensors(tensors, metadata)` to `path`; returns the data section's size in bytes. */
export function writeSafetensorsFile(path: string, tensors: readonly TensorToWrite[], metadata?: Readonly<Record<string, string>>): number {
  fs.writeFileSync(path, encodeSafetensors(tensors, metadata));
  return tensors.reduce((sum, t) => sum + t.data.byteLength, 0);
}
