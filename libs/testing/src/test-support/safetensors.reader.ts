import fs from 'node:fs';

/** A safetensors file taken apart by the byte layout of the format's specification, for the tests. */
export interface ParsedSafetensors {
  readonly fileBytes: number;
  /** the u64 little-endian header length */
  readonly headerBytes: number;
  readonly header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  readonly metadata: Record<string, string> | undefined;
  /** where the data section starts in the file (8 + headerBytes) */
  readonly dataStart: number;
  readonly buffer: Buffer;
  /** the bytes of one tensor */
  bytesOf(name: string): Buffer;
}

export function parseSafetensors(bufferOrPath: Buffer | string): ParsedSafetensors {
  const buffer = typeof bufferOrPath === 'string' ? fs.readFileSync(bufferOrPath) : bufferOrPath;
  const headerBytes = Number(buffer.readBigUInt64LE(0));
  const all = JSON.parse(buffer.subarray(8, 8 + headerBytes).toString('utf8')) as Record<string, unknown>;
  const { __metadata__: metadata, ...header } = all;
  const dataStart = 8 + headerBytes;
  const typed = header as ParsedSafetensors['header'];
  return {
    fileBytes: buffer.length,
    headerBytes,
    header: typed,
    metadata: metadata as Record<string, string> | undefined,
    dataStart,
    buffer,
    bytesOf: (name) => {
      const [begin, end] = typed[name]!.data_offsets;
      return buffer.subarray(dataStart + begin, dataStart + end);
    },
  };
}

/** The f32 values of little-endian bf16 bytes, decoded by hand (not with the code under test). */
export function decodeBf16Bytes(bytes: Buffer): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const words = new Uint32Array(bytes.length / 2);
  for (let i = 0; i < words.length; i++) words[i] = view.getUint16(i * 2, true) << 16;
  return new Float32Array(words.buffer);
}
