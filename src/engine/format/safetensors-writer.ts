import { SurgeonError } from '../errors';
import { DTYPE_BITS, type Dtype } from './dtype';
import { HEADER_LENGTH_PREFIX_BYTES } from './safetensors-header';
import { DEFAULT_MAX_SHARD_BYTES } from '../../shared/defaults';

/** A tensor to be written: everything the header needs, no data. */
export interface PlannedTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
}

export interface EncodedHeader {
  /** The 8-byte length prefix and the space-padded JSON: everything before the data buffer. */
  bytes: Uint8Array;
  /** [begin, end] of each tensor relative to the data start, in the order given. */
  offsets: Array<[number, number]>;
}

export interface ShardPlan {
  fileName: string;
  /** In data order (orderForWriting). */
  tensors: PlannedTensor[];
  /** The encoded header of this shard (length prefix included). */
  header: Uint8Array;
  offsets: Array<[number, number]>;
  dataBytes: number;
}

/** transformers' default `max_shard_size` ("5GB", decimal). */

export const SINGLE_FILE_NAME = 'model.safetensors';
export const INDEX_FILE_NAME = 'model.safetensors.index.json';

/** The writer pads the JSON so that the data buffer starts 8-byte aligned (any dtype can be viewed in place). */
const HEADER_ALIGNMENT = 8;

export const DEFAULT_METADATA: Readonly<Record<string, string>> = { format: 'pt' };

/**
 * The reference writer sorts by the declaration order of its `Dtype` enum, descending (which is
 * alignment order, with ties broken by that declaration), then by name. Matching it exactly
 * keeps our files byte-identical to `safetensors.torch.save_file` for the same tensors.
 */
const REFERENCE_DTYPE_RANK: Readonly<Record<Dtype, number>> = Object.fromEntries(
  ([
    'BOOL', 'F4', 'F6_E2M3', 'F6_E3M2', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F8_E4M3FNUZ',
    'F8_E5M2FNUZ', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'C64', 'F64', 'I64', 'U64',
  ] as const).map((dtype, rank) => [dtype, rank]),
) as Record<Dtype, number>;

/** Bytes of a tensor's data; refuses sub-byte tensors that do not fill whole bytes. */
export function tensorByteLength(tensor: PlannedTensor): number {
  const elements = tensor.shape.reduce((product, dimension) => product * dimension, 1);
  const bits = elements * DTYPE_BITS[tensor.dtype];
  if (!Number.isSafeInteger(bits) || tensor.shape.some((dimension) => !Number.isSafeInteger(dimension) || dimension < 0)) {
    throw new SurgeonError('size-overflow', `shape [${tensor.shape.join(', ')}] is not a valid size`, undefined, tensor.name);
  }
  if (bits % 8 !== 0) {
    throw new SurgeonError('byte-length',
      `shape [${tensor.shape.join(', ')}] of ${tensor.dtype} is ${bits} bits, not a whole number of bytes`, undefined, tensor.name);
  }
  return bits / 8;
}

/** Byte-wise UTF-8 order (Rust's `String::cmp`, Python's `sorted`), which differs from UTF-16 order past U+D7FF. */
export function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) {
    const left = a.charCodeAt(index);
    const right = b.charCodeAt(index);
    if (left === right) continue;
    const leftSurrogate = left >= 0xd800 && left <= 0xdfff;
    const rightSurrogate = right >= 0xd800 && right <= 0xdfff;
    if (leftSurrogate !== rightSurrogate) return leftSurrogate ? 1 : -1;
    return left - right;
  }
  return a.length - b.length;
}

/** Data order of the reference writer: dtype rank descending, then name. */
export function orderForWriting<T extends PlannedTensor>(tensors: readonly T[]): T[] {
  return [...tensors].sort((a, b) =>
    REFERENCE_DTYPE_RANK[b.dtype] - REFERENCE_DTYPE_RANK[a.dtype] || compareCodePoints(a.name, b.name));
}

/**
 * Encodes the header for tensors laid out in the given order, as compact JSON with `__metadata__`
 * first (the reference's serialisation), padded with spaces to a multiple of 8 bytes.
 * Pass `null` as metadata to leave `__metadata__` out (what `save_file(tensors)` writes).
 */
export function encodeSafetensorsHeader(
  tensors: readonly PlannedTensor[],
  metadata: Readonly<Record<string, string>> | null = DEFAULT_METADATA,
): EncodedHeader {
  const offsets: Array<[number, number]> = [];
  const entries: string[] = [];
  if (metadata !== null) {
    entries.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  const names = new Set<string>();
  let cursor = 0;
  for (const tensor of tensors) {
    if (tensor.name === '__metadata__' || names.has(tensor.name)) {
      throw new SurgeonError('duplicate-tensor', 'the tensor name is used twice (or is reserved)', undefined, tensor.name);
    }
    names.add(tensor.name);
    const end = cursor + tensorByteLength(tensor);
    offsets.push([cursor, end]);
    entries.push(`${JSON.stringify(tensor.name)}:{"dtype":"${tensor.dtype}","shape":[${tensor.shape.join(',')}],`
      + `"data_offsets":[${cursor},${end}]}`);
    cursor = end;
  }
  const json = new TextEncoder().encode(`{${entries.join(',')}}`);
  const padding = (HEADER_ALIGNMENT - (json.length % HEADER_ALIGNMENT)) % HEADER_ALIGNMENT;
  const headerLength = json.length + padding;
  const bytes = new Uint8Array(HEADER_LENGTH_PREFIX_BYTES + headerLength).fill(0x20);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(headerLength), true);
  bytes.set(json, HEADER_LENGTH_PREFIX_BYTES);
  return { bytes, offsets };
}

/**
 * Splits tensors (in the caller's order, usually the source checkpoint's) into shards the way
 * huggingface_hub's `split_torch_state_dict_into_shards` does: a tensor over the limit gets a
 * shard of its own; otherwise a shard is closed when the next tensor would overflow it.
 * Shard sizes count tensor data only. One shard is named `model.safetensors`.
 */
export function planShards(
  tensors: readonly PlannedTensor[],
  maxShardBytes: number = DEFAULT_MAX_SHARD_BYTES,
  metadata: Readonly<Record<string, string>> | null = DEFAULT_METADATA,
): ShardPlan[] {
  if (!(maxShardBytes > 0)) {
    throw new SurgeonError('usage', `the maximum shard size must be positive, not ${maxShardBytes}`);
  }
  const groups: PlannedTensor[][] = [];
  let current: PlannedTensor[] = [];
  let currentBytes = 0;
  for (const tensor of tensors) {
    const size = tensorByteLength(tensor);
    if (size > maxShardBytes) {
      groups.push([tensor]);
      continue;
    }
    if (currentBytes + size > maxShardBytes && current.length > 0) {
      groups.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(tensor);
    currentBytes += size;
  }
  if (current.length > 0 || groups.length === 0) groups.push(current);
  return groups.map((group, index) => {
    const ordered = orderForWriting(group);
    const { bytes, offsets } = encodeSafetensorsHeader(ordered, metadata);
    return {
      fileName: groups.length === 1 ? SINGLE_FILE_NAME : shardFileName(index + 1, groups.length),
      tensors: ordered,
      header: bytes,
      offsets,
      dataBytes: offsets.at(-1)?.[1] ?? 0,
    };
  });
}

/** `model-00001-of-00003.safetensors`: 1-based, 5 digits, as transformers names them. */
export function shardFileName(shardNumber: number, shardCount: number): string {
  const pad = (value: number): string => String(value).padStart(5, '0');
  return `model-${pad(shardNumber)}-of-${pad(shardCount)}.safetensors`;
}

/**
 * `model.safetensors.index.json` as transformers writes it: `json.dumps(index, indent=2,
 * sort_keys=True) + "\n"`, which also escapes every non-ASCII character (ensure_ascii).
 */
export function encodeIndex(
  plans: ReadonlyArray<{ fileName: string; tensors: ReadonlyArray<{ name: string }> }>,
  totalSize: number,
): string {
  const weightMap = new Map<string, string>();
  for (const plan of plans) {
    for (const tensor of plan.tensors) {
      if (weightMap.has(tensor.name)) {
        throw new SurgeonError('duplicate-tensor', 'the tensor is planned in two shards', plan.fileName, tensor.name);
      }
      weightMap.set(tensor.name, plan.fileName);
    }
  }
  const names = [...weightMap.keys()].sort(compareCodePoints);
  const lines = names.map((name, index) =>
    `    ${pythonJsonString(name)}: ${pythonJsonString(weightMap.get(name) ?? '')}${index < names.length - 1 ? ',' : ''}`);
  const weightMapText = names.length === 0 ? '{}' : `{\n${lines.join('\n')}\n  }`;
  return `{\n  "metadata": {\n    "total_size": ${totalSize}\n  },\n  "weight_map": ${weightMapText}\n}\n`;
}

/** A JSON string as Python's json.dumps writes it with ensure_ascii (\uXXXX, lower-case hex). */
function pythonJsonString(value: string): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
