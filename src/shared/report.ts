/**
 * The diff report: what `checkpoint-surgeon diff --json` prints, what `compute` produces as a
 * by-product, and what the report webview renders. Plain JSON, versioned by `schema`.
 */

export const REPORT_SCHEMA = 'checkpoint-surgeon/diff@1';

/** Every status a tensor of a diff can have, in the order the report lists them. */
export const TENSOR_STATUSES = [
  'changed',
  'unchanged',
  'shape-mismatch',
  'dtype-mismatch',
  'only-in-a',
  'only-in-b',
] as const;

export type TensorStatus = (typeof TENSOR_STATUSES)[number];

/** A zero count for every status: what a summary of no tensors holds. */
export function emptyStatusCounts(): Record<TensorStatus, number> {
  return Object.fromEntries(TENSOR_STATUSES.map((status) => [status, 0])) as Record<TensorStatus, number>;
}

export interface TensorSide {
  dtype: string;
  shape: number[];
}

export interface Histogram {
  /** Lower edge of the first bin and upper edge of the last; bins are equally wide. */
  min: number;
  max: number;
  counts: number[];
}

/** Statistics of the delta B - A, computed from the f32 difference and accumulated in f64. */
export interface DeltaStats {
  deltaNorm: number;
  baseNorm: number;
  relativeNorm: number | null;
  cosine: number | null;
  maxAbsDelta: number;
  meanDelta: number;
  stdDelta: number;
  zeroFraction: number;
  /** Elements where either side or the delta is NaN or infinite; they are left out of the sums. */
  nonFinite: number;
  histogram: Histogram;
}

/** Spectrum of a 2-D float delta (or residual), from a randomized SVD of its k leading singular values. */
export interface SpectralSummary {
  /** The k leading singular values, descending. */
  singularValues: number[];
  frobeniusNorm: number;
  /** Share of the squared Frobenius norm in the r leading singular values; null where r exceeds the k computed. */
  energyAtRank: { 8: number | null; 16: number | null; 64: number | null; 256: number | null };
  /** Roy and Vetterli's effective rank over the k computed values (0 for a zero matrix). */
  effectiveRank: number;
  /** The hardware path that ran the products, e.g. "WebAssembly SIMD, 8 threads" or "onnxruntime-node CUDA ...". */
  provider: string;
}

export interface TensorReport extends Partial<DeltaStats> {
  name: string;
  status: TensorStatus;
  a?: TensorSide;
  b?: TensorSide;
  /** Elements compared (for comparable tensors). */
  elements?: number;
  layer: number | null;
  module: string;
  /** What compute/apply does about a mismatch, in words (vocabulary growth, tied embeddings). */
  resolution?: string;
  /** Present when the diff ran with spectra and this tensor is a 2-D float matrix within the budget. */
  spectra?: SpectralSummary;
}

export interface LayerCell {
  layer: number | null;
  module: string;
  relativeNorm: number | null;
  deltaNorm: number;
  baseNorm: number;
  tensors: number;
}

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

export interface LineDiffEntry {
  op: 'same' | 'added' | 'removed';
  text: string;
}

export interface TokenizerReport {
  vocabSize: { a: number | null; b: number | null };
  addedTokens: { onlyInA: AddedToken[]; onlyInB: AddedToken[]; changed: Array<{ id: number; a: AddedToken; b: AddedToken }> };
  specialTokens: Array<{ key: string; a: unknown; b: unknown }>;
  chatTemplate: { a: boolean; b: boolean; changed: boolean; diff: LineDiffEntry[] };
  /** normalizer, pre_tokenizer, post_processor, decoder, model.type, flags such as `legacy`. */
  changes: Array<{ key: string; a: unknown; b: unknown }>;
  merges: { a: number | null; b: number | null };
}

export interface ConfigReport {
  changed: Array<{ key: string; a: unknown; b: unknown }>;
  verdict: 'compatible' | 'incompatible' | 'unknown';
  /** What makes the verdict, and notes such as vocabulary growth. */
  reasons: string[];
  /** The reasons that make it incompatible: each one refuses compute and apply (the notes do not). */
  refusals?: string[];
}

/** Built by `summarizeTensors` (report-summary.ts), for a final report and a live run alike. */
export interface DiffSummary {
  counts: Record<TensorStatus, number>;
  /** Elements of the tensors whose status is `changed` (every element of such a tensor counts). */
  parametersChanged: number;
  /** Elements of every tensor with statistics. */
  parametersCompared: number;
  globalRelativeNorm: number | null;
  mostChanged: Array<{ name: string; relativeNorm: number }>;
}

export interface CheckpointRef {
  path: string;
  /** Hub id (`org/name@revision`) where the checkpoint came from the cache. */
  hubId?: string;
}

/**
 * How one side of a diff stores its weights when they are FP8 in a layout the jobs read (docs/fp8.md): each FP8
 * weight times its scales, in binary32. The statistics of such a side are those of its dequantized weights.
 */
export interface ReportQuantization {
  /** config.json's quant_method (`fp8`, `compressed-tensors`, `fbgemm_fp8`); `fp8` for block scales without a quantization section. */
  method: string;
  /** How the scales are laid out: `block`, `per-tensor`, `per-channel` (comma-separated where a checkpoint mixes them). */
  layout: string;
  /** Rows and columns one scale covers, for block scales. */
  blockSize?: [number, number];
  /** The side's tensors, its scale tensors not counted (they travel with their weights). */
  tensors: number;
  /** The FP8 weights, by name, in checkpoint order: every one of them, compared dequantized. */
  quantizedTensors: string[];
}

export interface DiffReport {
  schema: typeof REPORT_SCHEMA;
  a: CheckpointRef;
  b?: CheckpointRef;
  /** Set when the report describes a residual folder alone (A = the residual). */
  residualOnly?: boolean;
  tensors: TensorReport[];
  layers: LayerCell[];
  tokenizer: TokenizerReport | null;
  config: ConfigReport | null;
  summary: DiffSummary;
  /** What ran the spectral pass, in words ("Spectra on ..."); present when the diff ran with spectra. */
  spectraProvider?: string;
  /** Present when a side holds FP8 weights, read dequantized; a side stored plainly has no entry (A alone: the residual). */
  quantization?: { a?: ReportQuantization; b?: ReportQuantization };
}
