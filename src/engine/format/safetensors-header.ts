import { open, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { SurgeonError, isSurgeonError } from '../errors';
import { DTYPE_BITS, isDtype, type Dtype } from './dtype';
import { describeLfsPointer, looksLikeLfsPointer, parseLfsPointer } from './lfs-pointer';
import { describeNotSafetensors, SNIFF_BYTES, startsLikeText } from './not-safetensors';
import { parseStrictJson } from './strict-json';

/** One tensor of a safetensors file; `begin` and `end` are relative to the start of the data buffer. */
export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  file: string;
  fileSize: number;
  /** N, the length of the JSON header (padding included). */
  headerLength: number;
  /** 8 + N: where the data buffer starts in the file. */
  dataStart: number;
  /** Sorted by `begin`. */
  tensors: TensorInfo[];
  metadata?: Record<string, string>;
}

/** The size prefix of the format: a little-endian u64. */
export const HEADER_LENGTH_PREFIX_BYTES = 8;

/**
 * The reference implementation refuses headers above 100 MB; we refuse them before allocating,
 * so a corrupt length cannot make us reserve gigabytes.
 */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';
const TENSOR_ENTRY_KEYS = ['dtype', 'shape', 'data_offsets'] as const;
const U64_MAX = (1n << 64n) - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Validates the first bytes of a safetensors file (at least the 8-byte prefix and the N header
 * bytes; anything after them is ignored) against the file's size, following the rules of the
 * reference reader plus the stricter ones of this project (duplicate keys, exact integers).
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  if (looksLikeLfsPointer(headerBytes)) {
    throw new SurgeonError('lfs-pointer', describeLfsPointer(parseLfsPointer(headerBytes) ?? {}), file);
  }
  const otherFormat = describeNotSafetensors(headerBytes);
  if (otherFormat !== undefined) throw new SurgeonError('not-safetensors', otherFormat, file);
  if (fileSize < HEADER_LENGTH_PREFIX_BYTES || headerBytes.length < HEADER_LENGTH_PREFIX_BYTES) {
    throw new SurgeonError('header-too-small',
      `the file has ${fileSize} bytes, fewer than the ${HEADER_LENGTH_PREFIX_BYTES}-byte header length`, file);
  }
  const headerLength = checkHeaderLength(readU64(headerBytes), fileSize, file);
  const dataStart = HEADER_LENGTH_PREFIX_BYTES + headerLength;
  if (headerBytes.length < dataStart) {
    throw new SurgeonError('io', `only ${headerBytes.length} of the ${dataStart} header bytes were given`, file);
  }
  const text = decodeUtf8(headerBytes.subarray(HEADER_LENGTH_PREFIX_BYTES, dataStart), file);
  const json = parseHeaderJson(text, file);
  const { tensors, metadata } = readEntries(json, file);
  const dataLength = validateLayout(tensors, file);
  if (dataStart + dataLength !== fileSize) {
    throw new SurgeonError('file-length',
      `the header describes ${dataStart + dataLength} bytes (8 + ${headerLength} header + ${dataLength} data) `
      + `but the file has ${fileSize}`, file);
  }
  return {
    file, fileSize, headerLength, dataStart, tensors,
    ...(metadata === undefined ? {} : { metadata }),
  };
}

/** Reads 8 + N bytes of the file (never the data) and validates them against the file's size. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  return (await readSafetensorsHeaderWithStats(path)).header;
}

/** Like readSafetensorsHeader, plus the stats taken from the same open file (size, mtime). */
export async function readSafetensorsHeaderWithStats(path: string): Promise<{ header: SafetensorsHeader; stats: Stats }> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, 'r');
    const stats = await handle.stat();
    if (!stats.isFile()) throw new SurgeonError('io', 'not a regular file', path);
    const fileSize = stats.size;
    const prefix = await readAt(handle, path, 0, Math.min(fileSize, HEADER_LENGTH_PREFIX_BYTES));
    // Text (an LFS pointer, JSON, YAML) cannot be safetensors; enough of it is read to say what it is.
    if (prefix.length < HEADER_LENGTH_PREFIX_BYTES || startsLikeText(prefix)) {
      const start = prefix.length < HEADER_LENGTH_PREFIX_BYTES ? prefix : await readAt(handle, path, 0, Math.min(fileSize, SNIFF_BYTES));
      return { header: parseSafetensorsHeader(start, fileSize, path), stats };
    }
    const otherFormat = describeNotSafetensors(prefix);
    if (otherFormat !== undefined) throw new SurgeonError('not-safetensors', otherFormat, path);
    const dataStart = HEADER_LENGTH_PREFIX_BYTES + checkHeaderLength(readU64(prefix), fileSize, path);
    const bytes = await readAt(handle, path, 0, dataStart);
    return { header: parseSafetensorsHeader(bytes, fileSize, path), stats };
  } catch (error) {
    if (isSurgeonError(error)) throw error;
    throw new SurgeonError('io', `cannot read the file: ${(error as Error).message}`, path);
  } finally {
    await handle?.close();
  }
}

async function readAt(handle: FileHandle, path: string, position: number, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) {
      throw new SurgeonError('io', `the file ended after ${position + filled} bytes while reading its header`, path);
    }
    filled += bytesRead;
  }
  return buffer;
}

function readU64(bytes: Uint8Array): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, HEADER_LENGTH_PREFIX_BYTES).getBigUint64(0, true);
}

function checkHeaderLength(length: bigint, fileSize: number, file: string): number {
  if (length > BigInt(MAX_HEADER_BYTES)) {
    throw new SurgeonError('header-too-large',
      `the header length ${length} is over the ${MAX_HEADER_BYTES}-byte limit`, file);
  }
  const headerLength = Number(length);
  if (HEADER_LENGTH_PREFIX_BYTES + headerLength > fileSize) {
    throw new SurgeonError('file-length',
      `the header length ${headerLength} runs past the end of the file (${fileSize} bytes)`, file);
  }
  return headerLength;
}

function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    // ignoreBOM keeps a byte-order mark in the text, so the JSON parser refuses it as the reference does.
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new SurgeonError('header-not-utf8', 'the header is not valid UTF-8', file);
  }
}

function parseHeaderJson(text: string, file: string): unknown {
  try {
    return parseStrictJson(text, file, { integersAsBigInt: true, topLevelKeysAreTensors: true });
  } catch (error) {
    if (isSurgeonError(error) && error.rule === 'invalid-json') {
      throw new SurgeonError('header-not-json', `the header is not ${error.detail.replace(/^invalid JSON: /, 'JSON: ')}`, file);
    }
    throw error;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readEntries(json: unknown, file: string): { tensors: TensorInfo[]; metadata?: Record<string, string> } {
  if (!isPlainObject(json)) {
    throw new SurgeonError('header-schema', `the header must be a JSON object, not ${describeJsonType(json)}`, file);
  }
  const tensors: TensorInfo[] = [];
  let metadata: Record<string, string> | undefined;
  for (const [name, entry] of Object.entries(json)) {
    if (name === METADATA_KEY) {
      metadata = readMetadata(entry, file);
    } else {
      tensors.push(readTensorEntry(name, entry, file));
    }
  }
  return metadata === undefined ? { tensors } : { tensors, metadata };
}

function readMetadata(entry: unknown, file: string): Record<string, string> {
  if (!isPlainObject(entry)) {
    throw new SurgeonError('metadata', `${METADATA_KEY} must be an object of strings, not ${describeJsonType(entry)}`, file);
  }
  for (const [key, value] of Object.entries(entry)) {
    if (typeof value !== 'string') {
      throw new SurgeonError('metadata',
        `${METADATA_KEY} value of ${JSON.stringify(key)} must be a string, not ${describeJsonType(value)}`, file);
    }
  }
  return entry as Record<string, string>;
}

function readTensorEntry(name: string, entry: unknown, file: string): TensorInfo {
  if (!isPlainObject(entry)) {
    throw new SurgeonError('header-schema', `the entry must be an object, not ${describeJsonType(entry)}`, file, name);
  }
  const keys = Object.keys(entry);
  const unexpected = keys.find((key) => !(TENSOR_ENTRY_KEYS as readonly string[]).includes(key));
  if (unexpected !== undefined) {
    throw new SurgeonError('header-schema', `unexpected key ${JSON.stringify(unexpected)} in the entry`, file, name);
  }
  const missing = TENSOR_ENTRY_KEYS.find((key) => !(key in entry));
  if (missing !== undefined) {
    throw new SurgeonError('header-schema', `the entry has no ${JSON.stringify(missing)}`, file, name);
  }
  const { dtype, shape, data_offsets: offsets } = entry;
  if (!isDtype(dtype)) {
    const shown = typeof dtype === 'string' ? JSON.stringify(dtype) : describeJsonType(dtype);
    throw new SurgeonError('unknown-dtype', `unknown dtype ${shown} (dtypes are upper case, e.g. "F32", "BF16")`, file, name);
  }
  if (!Array.isArray(shape)) {
    throw new SurgeonError('header-schema', `shape must be an array, not ${describeJsonType(shape)}`, file, name);
  }
  const dimensions = shape.map((dimension: unknown) => {
    if (typeof dimension !== 'bigint' || dimension < 0n) {
      throw new SurgeonError('header-schema',
        `shape ${describeJsonValue(shape)} must hold non-negative integers`, file, name);
    }
    if (dimension > MAX_SAFE) {
      throw new SurgeonError('size-overflow',
        `dimension ${dimension} is larger than ${Number.MAX_SAFE_INTEGER}`, file, name);
    }
    return Number(dimension);
  });
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw new SurgeonError('header-schema', `data_offsets must be an array [begin, end], not ${describeJsonValue(offsets)}`, file, name);
  }
  const [begin, end] = offsets.map((offset: unknown) => {
    if (typeof offset !== 'bigint' || offset < 0n || offset > MAX_SAFE) {
      throw new SurgeonError('offsets',
        `data_offsets ${describeJsonValue(offsets)} must be integers from 0 to ${Number.MAX_SAFE_INTEGER}`, file, name);
    }
    return Number(offset);
  }) as [number, number];
  return { name, dtype, shape: dimensions, begin, end };
}

/** Sorts the tensors by offsets and checks them back to back; returns the length of the data buffer. */
function validateLayout(tensors: TensorInfo[], file: string): number {
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let cursor = 0;
  for (const tensor of tensors) {
    if (tensor.begin !== cursor || tensor.end < tensor.begin) {
      const expected = tensor.begin !== cursor ? `the previous tensor ends at ${cursor}` : 'end is before begin';
      throw new SurgeonError('offsets',
        `data_offsets [${tensor.begin}, ${tensor.end}] are not contiguous: ${expected}`, file, tensor.name);
    }
    cursor = tensor.end;
    const elements = tensor.shape.reduce((product, dimension) => product * BigInt(dimension), 1n);
    const bits = elements * BigInt(DTYPE_BITS[tensor.dtype]);
    if (elements > U64_MAX || bits > U64_MAX) {
      throw new SurgeonError('size-overflow',
        `shape [${tensor.shape.join(', ')}] of ${tensor.dtype} overflows 64 bits`, file, tensor.name);
    }
    if (bits % 8n !== 0n) {
      throw new SurgeonError('byte-length',
        `shape [${tensor.shape.join(', ')}] of ${tensor.dtype} is ${bits} bits, not a whole number of bytes`, file, tensor.name);
    }
    if (bits / 8n !== BigInt(tensor.end - tensor.begin)) {
      throw new SurgeonError('byte-length',
        `shape [${tensor.shape.join(', ')}] of ${tensor.dtype} needs ${bits / 8n} bytes but data_offsets `
        + `[${tensor.begin}, ${tensor.end}] hold ${tensor.end - tensor.begin}`, file, tensor.name);
    }
  }
  return cursor;
}

function describeJsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'bigint') return 'a number';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function describeJsonValue(value: unknown): string {
  const text = Array.isArray(value) ? `[${value.map(describeJsonScalar).join(', ')}]` : describeJsonScalar(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function describeJsonScalar(value: unknown): string {
  if (typeof value === 'bigint' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  return describeJsonType(value);
}
