import type { Checkpoint, TensorRef } from '../checkpoint/checkpoint-types';
import { isFloatDtype, type Dtype } from '../format/dtype';
import { isFp8Dtype } from '../numerics/float8';
import type { TensorStatus } from '../../shared/report';
import type { PlanIssue } from '../../shared/jobs';

/** Names of the input embedding and the output head in the common families. */
const EMBEDDING_NAME = /(^|\.)(embed_tokens|wte|word_embeddings|embed_in|tok_embeddings)\.weight$/;
const OUTPUT_HEAD_NAME = /(^|\.)(lm_head|embed_out|output)\.weight$/;

/**
 * How one tensor name lines up between side A (base, or the checkpoint a residual is applied to)
 * and side B (instruct, or the residual). `rows` is the first dimension of the result when the
 * vocabulary differs: the smaller side is read with zero rows appended, never truncated.
 */
export interface TensorPair {
  name: string;
  a?: TensorRef;
  b?: TensorRef;
  status: TensorStatus;
  /** Both sides can be read element by element into one result of `shape`. */
  comparable: boolean;
  /** Float tensors are subtracted and added; the others are compared for equality and copied. */
  arithmetic: boolean;
  shape: number[];
  /** Set when the first dimensions differ and the smaller side is grown with zero rows. */
  growth?: { side: 'a' | 'b'; fromRows: number; toRows: number };
  /** Side A's tensor stands in for a tied output head that the file does not store. */
  tiedFrom?: string;
  resolution?: string;
}

export interface PairOptions {
  /** Words for what happens to tensors only on one side, per the job. */
  onlyInA: { severity: PlanIssue['severity']; resolution: string };
  onlyInB: { severity: PlanIssue['severity']; resolution: string };
  /** Allow a tied output head on side A to be read from its embedding (compute, verify, apply). */
  resolveTiedHead: boolean;
}

export interface Pairing {
  pairs: TensorPair[];
  issues: PlanIssue[];
}

/** Lines up the tensors of two checkpoints, in B's file order, then A's leftovers; every problem at once. */
export function pairTensors(a: Checkpoint, b: Checkpoint, options: PairOptions): Pairing {
  const pairs: TensorPair[] = [];
  const issues: PlanIssue[] = [];
  const vocabularies = new Set([configNumber(a.config, 'vocab_size'), configNumber(b.config, 'vocab_size')]);

  for (const [name, bRef] of b.tensors) {
    let aRef = a.tensors.get(name);
    let tiedFrom: string | undefined;
    if (!aRef && options.resolveTiedHead && OUTPUT_HEAD_NAME.test(name) && tiesEmbeddings(a)) {
      const embedding = findEmbedding(a);
      if (embedding) {
        aRef = embedding;
        tiedFrom = embedding.name;
      }
    }
    if (!aRef) {
      pairs.push({ name, b: bRef, status: 'only-in-b', comparable: false, arithmetic: false, shape: bRef.shape, resolution: options.onlyInB.resolution });
      issues.push({ severity: options.onlyInB.severity, rule: 'missing-tensor', tensor: name, file: b.root,
        message: `${JSON.stringify(name)} is in ${b.root} but not in ${a.root}: ${options.onlyInB.resolution}` });
      continue;
    }
    pairs.push(pairOne(name, aRef, bRef, tiedFrom, vocabularies, issues));
  }
  for (const [name, aRef] of a.tensors) {
    if (b.tensors.has(name)) continue;
    pairs.push({ name, a: aRef, status: 'only-in-a', comparable: false, arithmetic: false, shape: aRef.shape, resolution: options.onlyInA.resolution });
    issues.push({ severity: options.onlyInA.severity, rule: 'missing-tensor', tensor: name, file: a.root,
      message: `${JSON.stringify(name)} is in ${a.root} but not in ${b.root}: ${options.onlyInA.resolution}` });
  }
  return { pairs, issues };
}

function pairOne(
  name: string, a: TensorRef, b: TensorRef, tiedFrom: string | undefined,
  vocabularies: Set<number | undefined>, issues: PlanIssue[],
): TensorPair {
  const tiedNote = tiedFrom ? `side A ties this head to ${JSON.stringify(tiedFrom)} (tie_word_embeddings), which is read in its place` : undefined;
  const arithmetic = isArithmeticDtype(a.dtype) && isArithmeticDtype(b.dtype);
  const base = { name, a, b, arithmetic, ...(tiedFrom ? { tiedFrom } : {}) };
  if (!sameShape(a.shape, b.shape)) {
    const growable = a.shape.length === b.shape.length && a.shape.length >= 1
      && a.shape.slice(1).every((dimension, index) => dimension === b.shape[index + 1])
      && (isVocabularyName(name) || vocabularies.has(a.shape[0]) || vocabularies.has(b.shape[0]));
    // An FP8 weight's scales cover its own rows only: it is never grown.
    if (growable && arithmetic && !isFp8Dtype(a.dtype) && !isFp8Dtype(b.dtype)) {
      const fromRows = Math.min(a.shape[0]!, b.shape[0]!);
      const toRows = Math.max(a.shape[0]!, b.shape[0]!);
      const side = a.shape[0]! < b.shape[0]! ? 'a' : 'b';
      const resolution = `vocabulary ${side === 'a' ? 'growth' : 'shrink'}: side ${side.toUpperCase()} has ${fromRows} rows, the other ${toRows}; `
        + `side ${side.toUpperCase()} is read with ${toRows - fromRows} zero rows appended (never truncated)`
        + (tiedNote ? `; ${tiedNote}` : '');
      issues.push({ severity: side === 'a' ? 'info' : 'warning', rule: 'shape-mismatch', tensor: name, message: `${JSON.stringify(name)}: ${resolution}` });
      return { ...base, status: 'shape-mismatch', comparable: true, shape: [toRows, ...b.shape.slice(1)], growth: { side, fromRows, toRows }, resolution };
    }
    const resolution = `shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] cannot be lined up element by element`;
    issues.push({ severity: 'error', rule: 'shape-mismatch', tensor: name, message: `${JSON.stringify(name)}: ${resolution}` });
    return { ...base, status: 'shape-mismatch', comparable: false, shape: b.shape, resolution };
  }
  if (a.dtype !== b.dtype) {
    const resolution = arithmetic
      ? `dtypes ${a.dtype} and ${b.dtype} differ: both are widened to f32 for the arithmetic`
      : `dtypes ${a.dtype} and ${b.dtype} differ and are not both floating point`;
    issues.push({ severity: arithmetic ? 'info' : 'error', rule: 'dtype-mismatch', tensor: name, message: `${JSON.stringify(name)}: ${resolution}` });
    return { ...base, status: 'dtype-mismatch', comparable: arithmetic, shape: b.shape, resolution: tiedNote ? `${resolution}; ${tiedNote}` : resolution };
  }
  if (tiedNote) issues.push({ severity: 'info', rule: 'tied-embeddings', tensor: name, message: `${JSON.stringify(name)}: ${tiedNote}` });
  return { ...base, status: 'changed', comparable: true, shape: b.shape, ...(tiedNote ? { resolution: tiedNote } : {}) };
}

/**
 * Float tensors, and FP8 weights: the jobs open only checkpoints whose FP8 weights have their scales (docs/fp8.md),
 * and dequantize them into binary32 for the arithmetic (jobs/fp8-inputs.ts).
 */
export function isArithmeticDtype(dtype: Dtype): boolean {
  return isFloatDtype(dtype) || isFp8Dtype(dtype);
}

/** transformers' PretrainedConfig ties by default; configs that do not tie say so. */
export function tiesEmbeddings(checkpoint: Checkpoint): boolean {
  return checkpoint.config?.['tie_word_embeddings'] !== false;
}

export function findEmbedding(checkpoint: Checkpoint): TensorRef | undefined {
  for (const [name, ref] of checkpoint.tensors) if (EMBEDDING_NAME.test(name)) return ref;
  return undefined;
}

/** The token embeddings or the output head: the tensors with a row per token, which vocabulary growth grows. */
export function isVocabularyName(name: string): boolean {
  return EMBEDDING_NAME.test(name) || OUTPUT_HEAD_NAME.test(name);
}

export function isOutputHeadName(name: string): boolean {
  return OUTPUT_HEAD_NAME.test(name);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((dimension, index) => dimension === b[index]);
}

export function configNumber(config: Record<string, unknown> | undefined, key: string): number | undefined {
  const value = config?.[key] ?? (config?.['text_config'] as Record<string, unknown> | undefined)?.[key];
  return typeof value === 'number' ? value : undefined;
}

/** Elements per row (the product of all dimensions but the first). */
export function rowElements(shape: readonly number[]): number {
  return shape.slice(1).reduce((product, dimension) => product * dimension, 1);
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, dimension) => product * dimension, 1);
}
