/**
 * Options and results of the engine's jobs. The CLI prints these as `--json`, the extension's
 * commands return them, and the worker sends them to the extension host: one shape everywhere.
 */
import type { DiffReport, TensorReport } from './report';

/**
 * A dtype to write float tensors in; `same` keeps each source tensor's (an FP8 weight, dequantized, becomes BF16).
 * Apply's `--dtype` takes these; `fp8` (apply only) re-quantizes an FP8 target's FP8 weights to E4M3 with fresh
 * 128 x 128 block scales (docs/fp8.md).
 */
export type OutputDtype = 'same' | 'f64' | 'f32' | 'bf16' | 'f16' | 'fp8';

export const OUTPUT_DTYPES: readonly OutputDtype[] = ['same', 'f64', 'f32', 'bf16', 'f16', 'fp8'];

/**
 * Compute's `--dtype`. `f32` reconstructs bf16 and f16 checkpoints exactly; f32 checkpoints need `f64`
 * for that, since a binary32 difference of two binary32 values is not always exact. `auto` takes that
 * choice per tensor.
 */
export type ResidualDtype = 'auto' | Exclude<OutputDtype, 'fp8'>;

/** A residual is never FP8: its values are differences, written in a float dtype. */
export const RESIDUAL_DTYPES: readonly ResidualDtype[] = ['auto', 'same', 'f64', 'f32', 'bf16', 'f16'];

/** The CLI's and the extension's default: exact wherever a residual dtype can be. */
export const DEFAULT_RESIDUAL_DTYPE: ResidualDtype = 'auto';

export interface ComputeOptions {
  base: string;
  instruct: string;
  out: string;
  dtype?: ResidualDtype;
  /** Bytes; the CLI also accepts sizes such as `500MB`. */
  shardSize?: number;
  force?: boolean;
  overwrite?: boolean;
  /** Per-tensor statistics of the residual in the same pass (default true). */
  statistics?: boolean;
  /** Plan only: check everything and report the files it would write, without reading tensor data. */
  dryRun?: boolean;
}

export interface ApplyOptions {
  base: string;
  residual: string;
  out: string;
  scale?: number;
  include?: string;
  exclude?: string;
  /** `same` (the target tensor's) when absent. */
  dtype?: OutputDtype;
  shardSize?: number;
  force?: boolean;
  overwrite?: boolean;
  /** Plan only: check everything and report the files it would write, without reading tensor data. */
  dryRun?: boolean;
}

/** The dtype of an adapter's factors: the models' (`same`: BF16 for bf16 models and FP8 ones) or one named. */
export type LoraDtype = 'same' | 'bf16' | 'f16' | 'f32';

export const LORA_DTYPES: readonly LoraDtype[] = ['same', 'bf16', 'f16', 'f32'];

/** Embedding and head deltas: left out (`skip`, what vLLM and llama.cpp load) or factored too (`lora`, PEFT's lora_embedding_A/B). */
export type LoraEmbeddings = 'skip' | 'lora';

export const LORA_EMBEDDINGS: readonly LoraEmbeddings[] = ['skip', 'lora'];

/** The rank of each matrix: one rank for all, or the smallest that captures a share of its energy, capped. */
export type LoraRankChoice = { rank: number } | { energy: number; maxRank: number };

export interface LoraOptions {
  /** The residual to factor, R = instruct - base computed on the fly: base and instruct, or a residual folder alone. */
  base?: string;
  instruct?: string;
  residual?: string;
  out: string;
  /** DEFAULT_LORA_RANK for every matrix when absent. */
  ranks?: LoraRankChoice;
  embeddings?: LoraEmbeddings;
  dtype?: LoraDtype;
  spectraBackend?: SpectraBackendPreference;
  force?: boolean;
  overwrite?: boolean;
  dryRun?: boolean;
}

export interface VerifyOptions {
  base: string;
  residual: string;
  instruct: string;
}

export type SpectraBackendPreference = 'auto' | 'ort' | 'js';

export interface DiffOptions {
  a: string;
  b?: string;
  /** Also compute the spectrum of every 2-D float delta that fits the budget (opt-in: it reads the tensors again). */
  spectra?: boolean;
  /** Where the spectral products run; 'auto' when absent. */
  spectraBackend?: SpectraBackendPreference;
  /** Leading singular values per matrix, 1 to 1024; min(64, rows, cols) when absent. 256 gives the energy at rank 256. */
  spectraRank?: number;
}

export interface InspectOptions {
  path: string;
}

export interface CardOptions {
  dir: string;
}

export type JobKind = 'compute' | 'apply' | 'verify' | 'diff' | 'inspect' | 'card' | 'lora';

export interface JobProgress {
  /**
   * 'spectra' is the diff's second pass over the 2-D deltas: tensors count its matrices, bytes their
   * f32 deltas, so a pass that takes minutes on a large model shows how far it is.
   */
  phase: 'plan' | 'stream' | 'spectra' | 'finalize';
  bytesDone: number;
  bytesTotal: number;
  tensorsDone: number;
  tensorsTotal: number;
  /** The tensor being streamed, for the status line. */
  tensor?: string;
}

/** A problem the dry run found; all of them are reported at once, before any tensor data is read. */
export interface PlanIssue {
  severity: 'error' | 'warning' | 'info';
  rule: string;
  message: string;
  tensor?: string;
  file?: string;
}

export interface FileProvenance {
  /** Path relative to the checkpoint root. */
  file: string;
  bytes: number;
  sha256: string;
}

export interface OutputFile {
  file: string;
  bytes: number;
  sha256?: string;
}

/** A file a dry run would write; `bytes` where the plan knows it (the weights and their index). */
export interface DryRunFile {
  file: string;
  bytes?: number;
}

export interface VocabularyGrowth {
  tensor: string;
  fromRows: number;
  toRows: number;
  /** Tokens of the added rows where the tokenizer names them. */
  addedTokens: Array<{ id: number; content: string }>;
}

export interface ComputeResult {
  kind: 'compute';
  out: string;
  /** The residual's dtype (of most tensors). */
  dtype: string;
  /** Why: what `--dtype` asked for and whether base + residual reproduces the instruct model exactly. */
  dtypeReason: string;
  tensors: number;
  parameters: number;
  files: OutputFile[];
  issues: PlanIssue[];
  vocabularyGrowth: VocabularyGrowth[];
  provenance: { base: FileProvenance[]; instruct: FileProvenance[] };
  report: DiffReport;
  seconds: number;
}

export interface ApplyResult {
  kind: 'apply';
  out: string;
  scale: number;
  tensors: number;
  applied: string[];
  copiedUnchanged: string[];
  /** Residual tensors the target lacks, left out under `--force`. */
  skipped: string[];
  files: OutputFile[];
  issues: PlanIssue[];
  vocabularyGrowth: VocabularyGrowth[];
  /**
   * Set when the residual was a PEFT LoRA adapter (docs/lora.md): the modules merged as W + scale · scaling · (B @ A),
   * and the target tensors replaced by the adapter's saved ones (modules_to_save).
   */
  lora?: { modules: AppliedLoraModule[]; replaced: string[] };
  seconds: number;
}

export interface AppliedLoraModule {
  /** The PEFT module, e.g. `model.layers.0.self_attn.q_proj`. */
  module: string;
  /** The target tensor it changed, `<module>.weight`. */
  tensor: string;
  kind: 'linear' | 'embedding';
  rank: number;
  /** lora_alpha / r, or lora_alpha / √r with rsLoRA, as adapter_config.json gives it (rounded to binary32 in the merge). */
  scaling: number;
}

/** One matrix of a LoRA export: the factors written for it and how well they reconstruct its delta. */
export interface LoraMatrix {
  /** The model's tensor, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  tensor: string;
  /** The PEFT module, e.g. `model.layers.0.self_attn.q_proj`. */
  module: string;
  kind: 'linear' | 'embedding';
  /** The delta's [rows, cols]. */
  shape: [number, number];
  rank: number;
  /** Share of the delta's squared Frobenius norm in the leading `rank` singular values. */
  energy: number;
  /** ||delta - B @ A||_F / ||delta||_F, measured with the factors as written (in the adapter's dtype). */
  relativeError: number;
  /** The leading singular values computed (at most the rank asked for, or --max-rank), descending: energy against rank. */
  singularValues: number[];
  /** The delta's squared Frobenius norm. */
  squaredNorm: number;
}

/** A delta the adapter does not carry, and why. */
export interface LoraLeftOut {
  tensor: string;
  reason: 'not-a-matrix' | 'embedding' | 'vocabulary-growth' | 'unchanged' | 'too-large' | 'not-float';
  /** Its share of the residual's squared Frobenius norm (0 where it is unchanged or not a float tensor). */
  energyShare: number;
}

export interface LoraResult {
  kind: 'lora';
  out: string;
  /** The factors' dtype. */
  dtype: string;
  ranks: LoraRankChoice;
  matrices: LoraMatrix[];
  leftOut: LoraLeftOut[];
  /** Share of the residual's energy in the deltas left out (1-D, embeddings and head, grown rows). */
  leftOutEnergyShare: number;
  /** Share of the residual's energy the adapter carries: the factored matrices' captured energy over the whole residual's. */
  capturedEnergyShare: number;
  /** The adapter's weights file against the full residual in the same dtype. */
  adapterBytes: number;
  fullResidualBytes: number;
  /** What ran the SVDs, in words ('WebAssembly SIMD on the CPU', 'onnxruntime-node CUDA'). */
  backend: string;
  files: OutputFile[];
  issues: PlanIssue[];
  seconds: number;
}

export interface VerifyTensorResult {
  name: string;
  elements: number;
  identical: number;
  /** Elements that differ from the instruct model only in the sign of zero: equal values, no mismatch. */
  signedZeroOnly: number;
  maxAbsError: number;
}

export interface VerifyResult {
  kind: 'verify';
  /** Every element is bit-identical or differs only in the sign of zero. */
  ok: boolean;
  elements: number;
  identical: number;
  signedZeroOnly: number;
  maxAbsError: number;
  tensors: VerifyTensorResult[];
  /**
   * The tensors compared in dequantized space (docs/fp8.md): an FP8 side was dequantized with its scales and base +
   * residual compared with it in binary32. Absent when no side is FP8.
   */
  dequantized?: string[];
  issues: PlanIssue[];
  seconds: number;
}

export interface InspectTensor {
  name: string;
  dtype: string;
  shape: number[];
  file: string;
  bytes: number;
}

export interface InspectQuantization {
  /** config.json's quant_method (`fp8`, `gptq`, ...), else the method the tensors point to. */
  method: string;
  /** `block`, `per-tensor`, `per-channel` for FP8 layouts the jobs read; else the layout the tensors look like, if known. */
  layout?: string;
  /** Rows and columns one scale covers, for block scales. */
  blockSize?: [number, number];
  /** The quantized weights (their scales not counted) for FP8 layouts; else every tensor in a quantized layout. */
  tensors: string[];
  /** Whether compute, apply, verify and diff read the checkpoint (dequantizing its FP8 weights); else why not. */
  readable: boolean;
  refusal?: string;
}

export interface InspectResult {
  kind: 'inspect';
  path: string;
  layout: 'single' | 'sharded' | 'file';
  tensors: InspectTensor[];
  parameters: number;
  bytes: number;
  shards: string[];
  dtypes: Record<string, number>;
  architecture: string | null;
  modelType: string | null;
  metadata: Record<string, string>;
  tokenizer: { vocabSize: number | null; addedTokens: number; hasChatTemplate: boolean } | null;
  /** Present for a quantized checkpoint: how its weights are stored (docs/fp8.md for the FP8 layouts the jobs read). */
  quantization?: InspectQuantization;
  /**
   * Present for a sharded checkpoint: every shard its index names, with its tensors, and why it holds no
   * weights here when it does not (a Git LFS pointer, not downloaded). `tensors` lists only the tensors of
   * the shards that are present.
   */
  index?: InspectIndex;
  /** Weight files that are not there to read (also for a folder of configs alone); absent when none. */
  missingWeights?: InspectMissingWeights[];
  /** Present for a PEFT LoRA adapter: its modules, their ranks and the base it was made for (adapter_config.json). */
  lora?: InspectLora;
}

export interface InspectLora {
  modules: number;
  /** The modules' ranks, ascending, each once. */
  ranks: number[];
  /** Tensors saved whole (modules_to_save), which replace the model's. */
  savedTensors: number;
  baseModel: string | null;
}

export interface InspectMissingWeights {
  /** File name in the folder; '' for a folder that holds no weights file at all. */
  file: string;
  reason: 'lfs-pointer' | 'missing' | 'no-weights';
  message: string;
}

/** What the index of a sharded checkpoint says, whether or not its shards are present. */
export interface InspectIndex {
  /** Tensors the index names. */
  tensors: number;
  shards: Array<{ file: string; tensors: number; present: boolean }>;
  /** Transformer blocks (`layers.N`, `h.N`, `blocks.N`, ...) named, or null when no name has one. */
  layers: number | null;
  /** Experts per layer (`experts.N`), or null for a dense model. */
  experts: number | null;
  /** `metadata.total_size` as the index writes it. */
  totalSize?: number;
}

export interface DiffResult {
  kind: 'diff';
  report: DiffReport;
  /** What the diff could not do, e.g. compare weights that are Git LFS pointers or not downloaded; absent when none. */
  issues?: PlanIssue[];
  seconds: number;
}

export interface CardResult {
  kind: 'card';
  path: string;
}

export interface JobCallbacks {
  signal?: AbortSignal;
  /** Fetch Hub ids that are not in the local cache (into the cache) instead of refusing them. */
  allowDownload?: boolean;
  onProgress?(progress: JobProgress): void;
  /** Called as each tensor's statistics are final, so a report can fill in live. */
  onTensor?(tensor: TensorReport): void;
}

export interface PullResult {
  kind: 'pull';
  repo: string;
  revision: string;
  commit: string;
  /** The snapshot folder, a checkpoint folder. */
  path: string;
  /** File names in the snapshot that make the checkpoint. */
  files: string[];
  /** Bytes fetched over the network (files already cached cost nothing). */
  bytesDownloaded: number;
}

export interface PushResult {
  kind: 'push';
  repo: string;
  url: string;
  commit: string;
  created: boolean;
  files: string[];
  bytes: number;
}

export interface CacheResult {
  kind: 'cache';
  cacheDir: string;
  models: Array<{ repo: string; sizeOnDisk: number; revisions: Array<{ commit: string; refs: string[]; path: string }> }>;
}

/** What `compute --dry-run` / `apply --dry-run` found and would write; nothing was read past the headers. */
export interface DryRunResult {
  kind: 'dry-run';
  operation: 'compute' | 'apply' | 'lora';
  out: string;
  /** Warnings and notes; a plan with errors is refused like the job itself. */
  issues: PlanIssue[];
  tensors: number;
  parameters: number;
  /**
   * Every file the job would write: the shards with their sizes, the index when there is more than one,
   * and the files beside them (config.json, tokenizer files, provenance.json, the report, README.md), whose
   * sizes are not known before they are written (no `bytes`).
   */
  files: DryRunFile[];
  seconds: number;
}

/** What `--json` prints on stdout when a job is refused or fails (the message also goes to stderr). */
export interface ErrorResult {
  kind: 'error';
  /** The refusal's rule (`usage` for bad arguments, `unexpected` for a failure that is a bug). */
  rule: string;
  message: string;
  file?: string;
  tensor?: string;
  /** Every problem the dry run found, when the refusal is the plan's. */
  issues?: PlanIssue[];
}

export type JobResult = DryRunResult | ComputeResult | ApplyResult | LoraResult | VerifyResult | DiffResult | InspectResult | CardResult | PullResult | PushResult | CacheResult;
