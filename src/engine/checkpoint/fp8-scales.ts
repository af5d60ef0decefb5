/**
 * Pairs the FP8 weights of a checkpoint with their scales (docs/fp8.md), from tensor names, dtypes and shapes and from
 * config.json, before any tensor data is read. Three layouts are read:
 *
 * - `block` (quant_method "fp8": DeepSeek-V3, Kimi-K2, Qwen3 FP8): `<m>.weight` F8 [rows, columns] beside
 *   `<m>.weight_scale_inv` F32 [ceil(rows / 128), ceil(columns / 128)], blocks from `weight_block_size`;
 * - `per-tensor` and `per-channel` (quant_method "compressed-tensors" with float8 weights, or "fbgemm_fp8"):
 *   `<m>.weight_scale` F32, [] or [1] for the whole tensor, [rows] or [rows, 1] for each row.
 *
 * In each, an element's value is float32(fp8 byte) * its scale. Anything else is refused by name
 * (`unknown-scale-layout`): a scale of another shape or dtype, an FP8 weight without a scale, a scale without an FP8
 * weight, an FP8 dtype the kernels do not decode, or FP8 tensors under a quant_method that is not one of these.
 */
import { join } from 'node:path';
import { SurgeonError } from '../errors';
import type { ElementwiseKernels, Fp8ScaleGrid } from '../kernels/kernel-types';
import { isFp8Dtype, type Fp8Dtype } from '../numerics/float8';
import type { Checkpoint, TensorRef } from './checkpoint-types';
import { detectQuantization } from './quantization';
import { readTensorBytes } from './read-tensor-bytes';
import { CONFIG_FILE_NAME } from './side-files';

export type Fp8QuantMethod = 'fp8' | 'compressed-tensors' | 'fbgemm_fp8';
export type Fp8ScaleLayout = 'block' | 'per-tensor' | 'per-channel';

/** DeepSeek's block, and transformers' default `weight_block_size`. */
export const DEFAULT_FP8_BLOCK: readonly [number, number] = [128, 128];
const BLOCK_SCALE_SUFFIX = '.weight_scale_inv';
const CHANNEL_SCALE_SUFFIX = '.weight_scale';
const WEIGHT_SUFFIX = '.weight';

/** One FP8 weight and where its scales are. */
export interface Fp8Weight {
  /** The FP8 weight, [rows, columns]. */
  weight: TensorRef;
  dtype: Fp8Dtype;
  /** Its F32 scales. */
  scale: TensorRef;
  layout: Fp8ScaleLayout;
  rows: number;
  columns: number;
  /** The rows and columns one scale covers (the whole tensor for a per-tensor scale, one row for a per-channel one). */
  blockRows: number;
  blockColumns: number;
  /** The scales as a matrix: ceil(rows / blockRows) x ceil(columns / blockColumns). */
  scaleRows: number;
  scaleColumns: number;
}

export interface Fp8Checkpoint {
  /** config.json's quant_method; undefined without a quantization section (block scales recognised by their name). */
  method: Fp8QuantMethod | undefined;
  /** The FP8 weights by name, in checkpoint order. */
  weights: Map<string, Fp8Weight>;
  /** The name of each scale tensor's weight, by scale name: jobs handle scales with their weights, not on their own. */
  scales: Map<string, string>;
}

/** A weight's scale values, read. */
export interface Fp8Scales {
  weight: Fp8Weight;
  /** Row-major, scaleRows x scaleColumns. */
  values: Float32Array;
  /** The scale of element (row, column) of the weight. */
  scaleAt(row: number, column: number): number;
}

/** The keys transformers and older compressed-tensors releases keep the quantization section under. */
const CONFIG_KEYS = ['quantization_config', 'compression_config'] as const;
/** compressed-tensors' `format` for float8 weights stored as they are computed on. */
const COMPRESSED_TENSORS_FLOAT_FORMATS: ReadonlySet<string> = new Set(['float-quantized']);
/** compressed-tensors weight strategies whose scale is a `weight_scale` of one of the shapes read here. */
const COMPRESSED_TENSORS_STRATEGIES: Readonly<Record<string, Fp8ScaleLayout>> = { tensor: 'per-tensor', channel: 'per-channel' };
const FP8_FORMATS: Readonly<Record<string, Fp8Dtype>> = { e4m3: 'F8_E4M3', e5m2: 'F8_E5M2' };

interface ScaleRules {
  method: Fp8QuantMethod | undefined;
  /** The suffix of the scales this method writes. */
  suffix: typeof BLOCK_SCALE_SUFFIX | typeof CHANNEL_SCALE_SUFFIX;
  block: readonly [number, number];
  /** The FP8 dtype config.json names, if it names one. */
  dtype?: Fp8Dtype;
  /** The per-tensor or per-channel layouts config.json allows (all where it does not say). */
  layouts: ReadonlySet<Fp8ScaleLayout>;
  /** For messages: where the rules come from. */
  source: string;
}

/**
 * The FP8 weights of `checkpoint` with their scales; undefined when it has no FP8 or scale tensors and config.json names
 * no FP8 method. A checkpoint whose config names an FP8 method but holds no FP8 tensors gets an empty description.
 * Throws `unknown-scale-layout` for a layout not described above.
 */
export function describeFp8Checkpoint(checkpoint: Checkpoint): Fp8Checkpoint | undefined {
  const configFile = join(checkpoint.root, CONFIG_FILE_NAME);
  const fp8Tensors = [...checkpoint.tensors.values()].filter((ref) => ref.dtype.startsWith('F8_'));
  const scaleTensors = [...checkpoint.tensors.values()].filter((ref) => isScaleName(ref.name));
  const section = quantizationSection(checkpoint);
  const hasBlockScales = scaleTensors.some((ref) => ref.name.endsWith(BLOCK_SCALE_SUFFIX));
  const rules = scaleRules(section, configFile, fp8Tensors.length > 0, hasBlockScales);
  if (rules === undefined) return undefined;

  const weights = new Map<string, Fp8Weight>();
  const scales = new Map<string, string>();
  for (const ref of fp8Tensors) {
    const weight = pairWeight(ref, checkpoint.tensors, rules);
    weights.set(ref.name, weight);
    scales.set(weight.scale.name, ref.name);
  }
  for (const ref of scaleTensors) {
    if (scales.has(ref.name)) continue;
    const owner = checkpoint.tensors.get(ref.name.slice(0, ref.name.lastIndexOf('.')) + WEIGHT_SUFFIX);
    const why = owner === undefined ? 'there is no weight of that name beside it'
      : isFp8Dtype(owner.dtype) ? `${rules.source} keeps scales in ${rules.suffix}, not ${suffixOf(ref.name)}`
        : `its weight ${JSON.stringify(owner.name)} is ${owner.dtype}, not FP8`;
    throw refusal(`a scale tensor without an FP8 weight: ${why}`, ref);
  }
  // Zero points, packed weights, group indices: parts of a layout that is not read here.
  for (const name of detectQuantization(checkpoint)?.tensors ?? []) {
    if (weights.has(name) || scales.has(name)) continue;
    const ref = checkpoint.tensors.get(name)!;
    throw refusal(`a quantization tensor (${ref.dtype} ${shapeText(ref.shape)}) that is not part of an FP8 weight-and-scale layout`, ref);
  }
  return { method: rules.method, weights, scales };
}

/** An FP8 checkpoint in the words inspect and the diff report use (InspectQuantization, ReportQuantization). */
interface Fp8Summary {
  /** config.json's quant_method, else `fallbackMethod` (block scales recognised by their name). */
  method: string;
  /** The scale layouts of its weights, comma-separated; absent when it holds no FP8 weight. */
  layout?: string;
  /** Rows and columns one scale covers, for block scales. */
  blockSize?: [number, number];
  /** The FP8 weights by name, in checkpoint order (their scales not listed). */
  weights: string[];
}

export function summarizeFp8Checkpoint(fp8: Fp8Checkpoint, fallbackMethod = 'fp8'): Fp8Summary {
  const weights = [...fp8.weights.values()];
  const layouts = [...new Set(weights.map((weight) => weight.layout))];
  const block = weights.find((weight) => weight.layout === 'block');
  return {
    method: fp8.method ?? fallbackMethod,
    ...(layouts.length > 0 ? { layout: layouts.join(', ') } : {}),
    ...(block ? { blockSize: [block.blockRows, block.blockColumns] as [number, number] } : {}),
    weights: weights.map((weight) => weight.weight.name),
  };
}

/** Reads a weight's scales (small: 56 x 144 floats for a 7168 x 18432 weight). */
export async function readFp8Scales(weight: Fp8Weight): Promise<Fp8Scales> {
  const bytes = await readTensorBytes(weight.scale);
  const values = new Float32Array(bytes.buffer, bytes.byteOffset, weight.scaleRows * weight.scaleColumns);
  const { blockRows, blockColumns, scaleColumns } = weight;
  return {
    weight,
    values,
    scaleAt: (row, column) => values[Math.floor(row / blockRows) * scaleColumns + Math.floor(column / blockColumns)]!,
  };
}

/**
 * Reads a weight's scales into the kernels' memory and returns the grid the FP8 kernels take for its pieces
 * (`dequantizeFp8Blocks`). The caller frees `grid.scales` when the tensor is done.
 */
export async function loadFp8ScaleGrid(kernels: ElementwiseKernels, weight: Fp8Weight): Promise<Fp8ScaleGrid> {
  const bytes = await readTensorBytes(weight.scale);
  const scales = kernels.allocate(bytes.byteLength);
  scales.bytes.set(bytes);
  return { scales, columns: weight.columns, blockRows: weight.blockRows, blockColumns: weight.blockColumns };
}

/** The name of the block scales that go with the weight `weightName` in the DeepSeek layout. */
export function blockScaleName(weightName: string): string {
  return `${weightName.slice(0, -WEIGHT_SUFFIX.length)}${BLOCK_SCALE_SUFFIX}`;
}

/** The shape of the block scales of a [rows, columns] weight. */
export function blockScaleShape(rows: number, columns: number, block: readonly [number, number] = DEFAULT_FP8_BLOCK): [number, number] {
  return [Math.ceil(rows / block[0]), Math.ceil(columns / block[1])];
}

/** The quantization section config.json gets for an E4M3 checkpoint with block scales, as DeepSeek-V3 writes it. */
export function blockQuantizationConfig(block: readonly [number, number] = DEFAULT_FP8_BLOCK): Record<string, unknown> {
  return { activation_scheme: 'dynamic', fmt: 'e4m3', quant_method: 'fp8', weight_block_size: [...block] };
}

function quantizationSection(checkpoint: Checkpoint): { key: string; value: unknown } | undefined {
  for (const key of CONFIG_KEYS) {
    const value = checkpoint.config?.[key];
    if (value !== undefined && value !== null) return { key, value };
  }
  return undefined;
}

/** How config.json says scales are laid out; undefined when it names another method and no FP8 tensor is there. */
function scaleRules(
  section: { key: string; value: unknown } | undefined, configFile: string, hasFp8Tensors: boolean, hasBlockScales: boolean,
): ScaleRules | undefined {
  const all = new Set<Fp8ScaleLayout>(['per-tensor', 'per-channel']);
  if (section === undefined) {
    // Without a config, a `weight_scale` beside integer weights is some other layout: not ours to describe.
    if (!hasFp8Tensors && !hasBlockScales) return undefined;
    // DeepSeek's weight_dequant needs no config: the name says block scales, and the block is always 128 x 128.
    return { method: undefined, suffix: BLOCK_SCALE_SUFFIX, block: DEFAULT_FP8_BLOCK, layouts: all, source: 'a checkpoint without config.json quantization_config' };
  }
  const { key, value } = section;
  const method = isPlainObject(value) ? value['quant_method'] : undefined;
  const source = `${CONFIG_FILE_NAME} ${key}.quant_method ${JSON.stringify(method)}`;
  if (!isPlainObject(value) || (method !== 'fp8' && method !== 'compressed-tensors' && method !== 'fbgemm_fp8')) {
    if (!hasFp8Tensors) return undefined;
    throw new SurgeonError('unknown-scale-layout',
      `FP8 tensors under ${isPlainObject(value) ? source : `a ${CONFIG_FILE_NAME} ${key} that is not an object`}; `
      + 'FP8 scales are read for quant_method "fp8" (block scales), "compressed-tensors" (float8) and "fbgemm_fp8"', configFile);
  }
  if (method === 'fp8') {
    const fmt = value['fmt'];
    let dtype: Fp8Dtype | undefined;
    if (fmt !== undefined) {
      dtype = typeof fmt === 'string' ? FP8_FORMATS[fmt] : undefined;
      if (dtype === undefined) throw new SurgeonError('unknown-scale-layout', `${key}.fmt ${JSON.stringify(fmt)} is not "e4m3" or "e5m2"`, configFile);
    }
    const block = blockSize(value['weight_block_size'], key, configFile);
    return { method, suffix: BLOCK_SCALE_SUFFIX, block, layouts: all, source, ...(dtype === undefined ? {} : { dtype }) };
  }
  if (method === 'fbgemm_fp8') return { method, suffix: CHANNEL_SCALE_SUFFIX, block: DEFAULT_FP8_BLOCK, layouts: all, source };
  const layouts = compressedTensorsLayouts(value, key, configFile, hasFp8Tensors);
  if (layouts === undefined) return undefined;
  return { method, suffix: CHANNEL_SCALE_SUFFIX, block: DEFAULT_FP8_BLOCK, layouts, source };
}

function blockSize(value: unknown, key: string, configFile: string): readonly [number, number] {
  if (value === undefined || value === null) return DEFAULT_FP8_BLOCK;
  if (Array.isArray(value) && value.length === 2 && value.every((size) => Number.isSafeInteger(size) && size >= 1 && size < 2 ** 31)) {
    return [value[0] as number, value[1] as number];
  }
  throw new SurgeonError('unknown-scale-layout',
    `${key}.weight_block_size ${JSON.stringify(value)} is not two positive integers (rows, columns of a block)`, configFile);
}

/**
 * The scale layouts a compressed-tensors section allows for float8 weights; undefined when it describes no float8
 * weights and the checkpoint has no FP8 tensors (an integer scheme: not ours to read).
 */
function compressedTensorsLayouts(
  section: Record<string, unknown>, key: string, configFile: string, hasFp8Tensors: boolean,
): ReadonlySet<Fp8ScaleLayout> | undefined {
  const format = section['format'];
  if (typeof format === 'string' && !COMPRESSED_TENSORS_FLOAT_FORMATS.has(format)) {
    if (!hasFp8Tensors) return undefined;
    throw new SurgeonError('unknown-scale-layout',
      `FP8 tensors under compressed-tensors format ${JSON.stringify(format)}; only "float-quantized" (float8 weights with weight_scale) is read`, configFile);
  }
  const groups = section['config_groups'];
  if (!isPlainObject(groups)) return new Set(['per-tensor', 'per-channel']);
  const layouts = new Set<Fp8ScaleLayout>();
  for (const [name, group] of Object.entries(groups)) {
    const weights = isPlainObject(group) ? group['weights'] : undefined;
    if (!isPlainObject(weights)) continue;
    const { type, num_bits: bits, strategy, symmetric } = weights;
    const layout = typeof strategy === 'string' ? COMPRESSED_TENSORS_STRATEGIES[strategy] : undefined;
    if (type !== 'float' || bits !== 8 || layout === undefined || symmetric === false) {
      if (!hasFp8Tensors && type !== 'float') return undefined;
      throw new SurgeonError('unknown-scale-layout',
        `${key}.config_groups.${name}.weights is ${JSON.stringify({ type, num_bits: bits, strategy, symmetric })}; `
        + 'float8 weights are read with a symmetric "tensor" or "channel" strategy (type "float", num_bits 8)', configFile);
    }
    layouts.add(layout);
  }
  return layouts.size > 0 ? layouts : new Set(['per-tensor', 'per-channel']);
}

function pairWeight(ref: TensorRef, tensors: ReadonlyMap<string, TensorRef>, rules: ScaleRules): Fp8Weight {
  if (!isFp8Dtype(ref.dtype)) {
    throw refusal(`${ref.dtype} values are not decoded (FP8 weights are read as F8_E4M3 or F8_E5M2)`, ref);
  }
  if (rules.dtype !== undefined && ref.dtype !== rules.dtype) {
    throw refusal(`${ref.dtype} weights, but ${rules.source} says ${rules.dtype}`, ref);
  }
  if (!ref.name.endsWith(WEIGHT_SUFFIX)) throw refusal(`an ${ref.dtype} tensor that is not a weight (its name does not end in ${WEIGHT_SUFFIX})`, ref);
  if (ref.shape.length !== 2) throw refusal(`an ${ref.dtype} weight of shape ${shapeText(ref.shape)}; FP8 weights are read as matrices`, ref);
  const stem = ref.name.slice(0, -WEIGHT_SUFFIX.length);
  const scale = tensors.get(stem + rules.suffix);
  const other = tensors.get(stem + (rules.suffix === BLOCK_SCALE_SUFFIX ? CHANNEL_SCALE_SUFFIX : BLOCK_SCALE_SUFFIX));
  if (scale === undefined) {
    const found = other === undefined ? 'there is none' : `there is ${JSON.stringify(other.name)} instead`;
    throw refusal(`an FP8 weight without its scale ${JSON.stringify(stem + rules.suffix)} (${rules.source}): ${found}`, ref);
  }
  if (other !== undefined) throw refusal(`an FP8 weight with two scales, ${JSON.stringify(scale.name)} and ${JSON.stringify(other.name)}`, ref);
  if (scale.dtype !== 'F32') throw refusal(`a ${scale.dtype} scale; FP8 scales are read as F32`, scale);
  const [rows, columns] = ref.shape as [number, number];
  if (rules.suffix === BLOCK_SCALE_SUFFIX) {
    const [blockRows, blockColumns] = rules.block;
    const expected = blockScaleShape(rows, columns, rules.block);
    if (!sameShape(scale.shape, expected)) {
      throw refusal(`block scales of shape ${shapeText(scale.shape)} for a ${shapeText(ref.shape)} weight in blocks of `
        + `${blockRows} x ${blockColumns}; expected ${shapeText(expected)}`, scale);
    }
    return { weight: ref, dtype: ref.dtype, scale, layout: 'block', rows, columns, blockRows, blockColumns, scaleRows: expected[0], scaleColumns: expected[1] };
  }
  const layout = scaleLayout(scale.shape, rows);
  if (layout === undefined || !rules.layouts.has(layout)) {
    const allowed = [...rules.layouts].map((name) => (name === 'per-tensor' ? '[] or [1] (per tensor)' : `[${rows}] or [${rows}, 1] (per channel)`));
    throw refusal(`a scale of shape ${shapeText(scale.shape)} for a ${shapeText(ref.shape)} weight; ${rules.source} reads ${allowed.join(' or ')}`, scale);
  }
  const whole = { rows: Math.max(rows, 1), columns: Math.max(columns, 1) };
  return layout === 'per-tensor'
    ? { weight: ref, dtype: ref.dtype, scale, layout, rows, columns, blockRows: whole.rows, blockColumns: whole.columns, scaleRows: 1, scaleColumns: 1 }
    : { weight: ref, dtype: ref.dtype, scale, layout, rows, columns, blockRows: 1, blockColumns: whole.columns, scaleRows: rows, scaleColumns: 1 };
}

function scaleLayout(shape: readonly number[], rows: number): Fp8ScaleLayout | undefined {
  if (shape.length === 0 || sameShape(shape, [1])) return 'per-tensor';
  if (sameShape(shape, [rows]) || sameShape(shape, [rows, 1])) return 'per-channel';
  return undefined;
}

function isScaleName(name: string): boolean {
  return name.endsWith(BLOCK_SCALE_SUFFIX) || name.endsWith(CHANNEL_SCALE_SUFFIX);
}

function suffixOf(name: string): string {
  return name.endsWith(BLOCK_SCALE_SUFFIX) ? BLOCK_SCALE_SUFFIX : CHANNEL_SCALE_SUFFIX;
}

function refusal(detail: string, ref: TensorRef): SurgeonError {
  return new SurgeonError('unknown-scale-layout', detail, ref.file.path, ref.name);
}

function sameShape(shape: readonly number[], expected: readonly number[]): boolean {
  return shape.length === expected.length && shape.every((size, index) => size === expected[index]);
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
