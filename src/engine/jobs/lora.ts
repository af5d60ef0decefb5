import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Checkpoint, TensorRef } from '../checkpoint/checkpoint-types';
import { isResidualsConfig } from '../checkpoint/checkpoint-kind';
import type { Fp8Weight } from '../checkpoint/fp8-scales';
import { cancelledError, SurgeonError } from '../errors';
import type { PlannedTensor } from '../format/safetensors-writer';
import { parseHubId } from '../hub/hub-id';
import { PROVENANCE_FILE, readProvenance, writeProvenance, type ProvenanceSide } from '../io/provenance-file';
import { AdapterWeights, adapterFileLayout } from '../lora/adapter-weights';
import { encodeFactor, transposed, type FactorDtype } from '../lora/factor-encoding';
import { factorDelta, relativeReconstructionError } from '../lora/low-rank-factors';
import { loraTarget, type LoraTarget } from '../lora/lora-targets';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, adapterConfig, loraTensorNames } from '../lora/peft-adapter';
import { renderLoraCard } from '../report/lora-card';
import { DEFAULT_LORA_RANK, MAX_LORA_RANK } from '../../shared/defaults';
import type {
  DryRunFile, DryRunResult, JobCallbacks, LoraLeftOut, LoraMatrix, LoraOptions, LoraRankChoice, LoraResult, PlanIssue,
} from '../../shared/jobs';
import type { CheckpointRef } from '../../shared/report';
import { runDeltaPass } from './delta-pass';
import { DeltaMatrixReader } from './delta-matrix-reader';
import { checkpointRef, compareSides } from './diff-report';
import { dequantizedView, fp8WeightsOf } from './fp8-inputs';
import { runWritingJob, type InputSpecs, type Inputs, type WritePlan } from './job-pipeline';
import { configNumber, elementCount, isArithmeticDtype, isVocabularyName, pairTensors, type TensorPair } from './pair-tensors';
import { refuseSameModel } from './same-model';
import { loadJsSpectraBackend, type SpectraBackendLoader } from './spectra-pass';


/** What the host lends the job; the engine itself never loads onnxruntime-node. */
export interface LoraHost {
  loadSpectraBackend?: SpectraBackendLoader;
}

/**
 * A residual as a PEFT LoRA adapter: each linear delta (instruct - base, or a residual folder's tensor) factored by
 * truncated SVD into lora_B = U_r √S_r and lora_A = √S_r V_rᵀ, written in PEFT's layout with scaling 1. What LoRA
 * cannot carry (1-D deltas, embeddings and head by default, grown vocabulary rows) is left out and its share of the
 * residual's energy reported. With `dryRun` it stops after the plan.
 */
export async function runLora(options: LoraOptions & { dryRun: true }, callbacks?: JobCallbacks, host?: LoraHost): Promise<DryRunResult>;
export async function runLora(options: LoraOptions & { dryRun?: false }, callbacks?: JobCallbacks, host?: LoraHost): Promise<LoraResult>;
export async function runLora(options: LoraOptions, callbacks?: JobCallbacks, host?: LoraHost): Promise<LoraResult | DryRunResult>;
export async function runLora(options: LoraOptions, callbacks: JobCallbacks = {}, host: LoraHost = {}): Promise<LoraResult | DryRunResult> {
  const ranks = checkedRanks(options.ranks ?? { rank: DEFAULT_LORA_RANK });
  const fromResidual = options.residual !== undefined;
  if (fromResidual === (options.base !== undefined || options.instruct !== undefined) || (!fromResidual && (options.base === undefined || options.instruct === undefined))) {
    throw new SurgeonError('usage', 'name the residual to factor: --base and --instruct, or --residual alone');
  }
  const inputs: InputSpecs = fromResidual ? { residual: options.residual! } : { base: options.base!, instruct: options.instruct! };
  return runWritingJob({ operation: 'lora', inputs, output: options }, callbacks, (opened) => planLora(options, ranks, callbacks, host, opened));
}

function checkedRanks(ranks: LoraRankChoice): LoraRankChoice {
  const wholeRank = (value: number, flag: string): void => {
    if (!Number.isInteger(value) || value < 1 || value > MAX_LORA_RANK) {
      throw new SurgeonError('usage', `${flag} must be a whole number from 1 to ${MAX_LORA_RANK}, not ${value}`);
    }
  };
  if ('rank' in ranks) {
    wholeRank(ranks.rank, '--rank');
  } else {
    if (!(ranks.energy > 0 && ranks.energy <= 1)) throw new SurgeonError('usage', `--energy must be a share above 0 and at most 1 (0.9 is 90%), not ${ranks.energy}`);
    wholeRank(ranks.maxRank, '--max-rank');
  }
  return ranks;
}

/** The residual's tensors as pairs (side A the base, or none for a residual folder), and what is known of its models. */
interface LoraSource {
  pairs: TensorPair[];
  fp8: ReadonlyMap<TensorRef, Fp8Weight>;
  issues: PlanIssue[];
  /** The model the adapter is for: the base, or the base a residual folder records. */
  base: CheckpointRef;
  /** For provenance: the base's record (with its files' digests where they are known). */
  baseSide: (digests: Record<string, ProvenanceSide['files']>) => ProvenanceSide;
  /** The models' dtype, which `--dtype same` keeps: from the config, else the residual's tensors. */
  modelDtype: FactorDtype;
  sources: Array<{ role: 'instruct' | 'residual'; ref: CheckpointRef }>;
}

async function planLora(
  options: LoraOptions, ranks: LoraRankChoice, callbacks: JobCallbacks, host: LoraHost, inputs: Inputs<InputSpecs>,
): Promise<WritePlan<InputSpecs, Streamed, LoraResult>> {
  const force = options.force === true;
  const source = inputs['residual'] ? await residualSource(inputs['residual'], force) : await pairSource(inputs['base']!, inputs['instruct']!, force, callbacks);
  const embeddings = options.embeddings ?? 'skip';
  const dtype: FactorDtype = options.dtype === undefined || options.dtype === 'same' ? source.modelDtype : FACTOR_DTYPES[options.dtype];
  const pairs = source.pairs.filter((pair) => pair.comparable && pair.b);
  const targets = pairs.map((pair) => ({ pair, target: loraTarget(pair, embeddings) }));
  const factored = targets.filter((entry): entry is { pair: TensorPair; target: Extract<LoraTarget, { factor: true }> } => entry.target.factor);
  const issues = [...source.issues, ...growthIssues(pairs, force)];
  if (factored.length === 0) {
    issues.push({ severity: 'error', rule: 'nothing-to-factor', message: 'the residual holds no 2-D float matrix of a linear module: there is nothing for a LoRA adapter to carry' });
  }
  const rankCap = 'rank' in ranks ? ranks.rank : ranks.maxRank;
  if (!('rank' in ranks)) {
    issues.push({ severity: 'info', rule: 'ranks-from-spectra', message: `each rank is chosen from its matrix's spectrum: the sizes are upper bounds, at --max-rank ${ranks.maxRank}` });
  }
  const plannedTensors = (): PlannedTensor[] => factored.flatMap(({ target }) => {
    const rank = Math.min(rankCap, target.rows, target.cols);
    const names = loraTensorNames(target.module, target.kind);
    return target.kind === 'linear'
      ? [{ name: names.a, dtype, shape: [rank, target.cols] }, { name: names.b, dtype, shape: [target.rows, rank] }]
      : [{ name: names.a, dtype, shape: [rank, target.rows] }, { name: names.b, dtype, shape: [target.cols, rank] }];
  });
  const sideFiles = [ADAPTER_CONFIG_FILE, PROVENANCE_FILE, 'README.md'];
  return {
    issues,
    tensors: plannedTensors,
    writesOwnWeights: {
      dryRunFiles: (): DryRunFile[] => [{ file: ADAPTER_WEIGHTS_FILE, bytes: adapterFileLayout(plannedTensors()).size }],
    },
    sideFiles: () => sideFiles,
    stream: async (kernels, { dir }) => {
      const { backend } = await (host.loadSpectraBackend ?? loadJsSpectraBackend)(options.spectraBackend ?? 'auto');
      const weights = await AdapterWeights.create(dir);
      try {
        // The energy of what the adapter leaves out, from the delta pass's norms: one streaming read, no matrix in memory.
        const leftOutPairs = targets.filter((entry) => !entry.target.factor && entry.pair.arithmetic).map((entry) => entry.pair);
        const leftOutNorms = new Map((await runDeltaPass(leftOutPairs, kernels, { signal: callbacks.signal, fp8: source.fp8 }))
          .map((report) => [report.name, (report.deltaNorm ?? 0) ** 2]));
        const matrices = await factorMatrices(factored, dtype, ranks, weights, { kernels, backend, fp8: source.fp8, callbacks });
        return { weights, matrices, leftOutNorms, backend: backend.provider };
      } catch (error) {
        await weights.discard();
        throw error;
      } finally {
        await backend.dispose?.();
      }
    },
    async finish(streamed, output) {
      const unchanged = streamed.matrices.filter((matrix) => matrix.rank === 0);
      const matrices = streamed.matrices.filter((matrix) => matrix.rank > 0);
      if (matrices.length === 0) {
        await streamed.weights.discard();
        throw new SurgeonError('nothing-to-factor', 'every matrix of the residual is zero: an adapter of it would change nothing');
      }
      const weightsFile = await streamed.weights.finish();
      const energy = [...streamed.leftOutNorms.values(), ...streamed.matrices.map((matrix) => matrix.squaredNorm)].reduce((sum, value) => sum + value, 0);
      const share = (value: number): number => (energy > 0 ? value / energy : 0);
      const leftOut: LoraLeftOut[] = [
        ...targets.flatMap(({ pair, target }) => (target.factor ? [] : [{ tensor: pair.name, reason: target.reason, energyShare: share(streamed.leftOutNorms.get(pair.name) ?? 0) }])),
        ...unchanged.map((matrix) => ({ tensor: matrix.tensor, reason: 'unchanged' as const, energyShare: 0 })),
      ];
      const createdAt = new Date();
      const hub = source.base.hubId === undefined ? undefined : parseHubId(source.base.hubId);
      const config = adapterConfig(matrices.map((matrix) => ({ module: matrix.module, rank: matrix.rank })), hub?.repo ?? source.base.path, hub?.revision ?? null);
      const result: LoraResult = {
        kind: 'lora',
        out: output.target,
        dtype,
        ranks,
        matrices,
        leftOut,
        leftOutEnergyShare: leftOut.reduce((sum, entry) => sum + entry.energyShare, 0),
        capturedEnergyShare: share(matrices.reduce((sum, matrix) => sum + matrix.energy * matrix.squaredNorm, 0)),
        adapterBytes: weightsFile.bytes,
        fullResidualBytes: pairs.filter((pair) => pair.arithmetic).reduce((sum, pair) => sum + elementCount(pair.shape) * FACTOR_BYTES[dtype], 0),
        backend: streamed.backend,
        files: [],
        issues: [...issues, ...(new Set(matrices.map((matrix) => matrix.rank)).size > 1 ? [mixedRanksNote()] : [])],
        seconds: 0,
      };
      await writeFile(join(output.dir, ADAPTER_CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
      await writeProvenance(output.dir, {
        createdAt: createdAt.toISOString(),
        operation: 'lora',
        formula: 'R ≈ B @ A per linear module (truncated SVD, scaling 1)',
        base: source.baseSide(output.provenance),
        ...(output.provenance['instruct'] ? { instruct: { ...checkpointRef(inputs['instruct']!), files: output.provenance['instruct'] } } : {}),
        ...(output.provenance['residual'] ? { residual: { ...checkpointRef(inputs['residual']!), files: output.provenance['residual'] } } : {}),
        dtype,
        output: [weightsFile],
      });
      await writeFile(join(output.dir, 'README.md'), renderLoraCard({ result, base: source.base, sources: source.sources, createdAt }));
      result.files = [weightsFile, ...await sizesOf(output.dir, sideFiles)];
      return result;
    },
  };
}

const FACTOR_DTYPES: Readonly<Record<'bf16' | 'f16' | 'f32', FactorDtype>> = { bf16: 'BF16', f16: 'F16', f32: 'F32' };
const FACTOR_BYTES: Readonly<Record<FactorDtype, number>> = { BF16: 2, F16: 2, F32: 4 };

interface Streamed {
  weights: AdapterWeights;
  /** Every factored matrix; rank 0 where its delta is zero. */
  matrices: LoraMatrix[];
  leftOutNorms: Map<string, number>;
  backend: string;
}

/** R = instruct - base: paired as compute pairs them, FP8 sides dequantized, the families and tokenizers compared. */
async function pairSource(base: Checkpoint, instruct: Checkpoint, force: boolean, callbacks: JobCallbacks): Promise<LoraSource> {
  await refuseSameModel(base, instruct, callbacks.signal);
  const baseView = dequantizedView(base);
  const instructView = dequantizedView(instruct);
  const pairing = pairTensors(baseView.checkpoint, instructView.checkpoint, {
    onlyInA: { severity: force ? 'warning' : 'error', resolution: 'the instruct model lacks it; the adapter leaves it alone' },
    onlyInB: { severity: force ? 'warning' : 'error', resolution: 'the base lacks it, so no delta can be factored for it' },
    resolveTiedHead: true,
  });
  const sides = await compareSides(base, instruct, force);
  const baseRef = checkpointRef(base);
  return {
    pairs: pairing.pairs,
    fp8: fp8WeightsOf(baseView, instructView),
    issues: [...sides.issues, ...pairing.issues],
    base: baseRef,
    baseSide: (digests) => ({ ...baseRef, files: digests['base'] ?? [] }),
    modelDtype: modelDtype(instruct.config, instruct),
    sources: [{ role: 'instruct', ref: checkpointRef(instruct) }],
  };
}

/**
 * A residual folder, every tensor against zeros. It must be one: a model factored as if it were a residual would add
 * the whole model to its base. Its provenance names the base and its config, from which vocabulary growth is seen.
 */
async function residualSource(residual: Checkpoint, force: boolean): Promise<LoraSource> {
  const issues: PlanIssue[] = [];
  if (!isResidualsConfig(residual.config)) {
    issues.push({
      severity: force ? 'warning' : 'error', rule: 'not-a-residual', file: residual.root,
      message: residual.layout === 'file'
        ? `${residual.files[0]!.path} is one .safetensors file, without the config.json that says a folder holds a residual: name the residual's folder`
          + `${force ? ' (going on: --force)' : ', or --force if the file is a residual'}`
        : `${residual.root} is not a residual folder (its config.json has no residuals_version): a model's own weights factored `
          + `as a residual would add the whole model to its base; pass --base and --instruct instead${force ? ' (going on: --force)' : ', or --force if it is a residual'}`,
    });
  }
  const provenance = await readProvenance(residual.root);
  const recordedBase = provenance?.base;
  const view = dequantizedView(residual);
  const vocabulary = configNumber(recordedBase?.config ?? undefined, 'vocab_size');
  const pairs: TensorPair[] = [...view.checkpoint.tensors.values()].map((ref) => {
    const pair: TensorPair = { name: ref.name, b: ref, status: 'changed', comparable: true, arithmetic: isArithmeticDtype(ref.dtype), shape: ref.shape };
    const rows = ref.shape[0];
    // The base's vocabulary, where the residual records it, tells rows the base lacks (the residual holds them as instruct - 0).
    if (vocabulary !== undefined && rows !== undefined && rows > vocabulary && isVocabularyName(ref.name)) pair.growth = { side: 'a', fromRows: vocabulary, toRows: rows };
    return pair;
  });
  const configName = residual.config?.['base_model_name'];
  const base: CheckpointRef = recordedBase
    ? { path: recordedBase.path, ...(recordedBase.hubId ? { hubId: recordedBase.hubId } : {}) }
    : { path: typeof configName === 'string' ? configName : residual.root };
  return {
    pairs,
    fp8: fp8WeightsOf(view),
    issues,
    base,
    baseSide: () => recordedBase ?? { ...base, files: [] },
    modelDtype: modelDtype(recordedBase?.config ?? undefined, residual),
    sources: [{ role: 'residual', ref: checkpointRef(residual) }],
  };
}

/** An adapter cannot add token rows: vocabulary growth is refused unless --force, which leaves the grown tensors out. */
function growthIssues(pairs: readonly TensorPair[], force: boolean): PlanIssue[] {
  return pairs.filter((pair) => pair.growth).map((pair) => ({
    severity: force ? 'warning' : 'error',
    rule: 'vocabulary-growth',
    tensor: pair.name,
    message: `${JSON.stringify(pair.name)} grows from ${pair.growth!.fromRows} to ${pair.growth!.toRows} rows: a LoRA adapter cannot add token rows, `
      + `so the new tokens would have no embedding; use the full residual (compute, then apply) instead`
      + `${force ? ' (going on without the grown tensors: --force)' : ', or --force to leave the grown tensors out'}`,
  }));
}

function mixedRanksNote(): PlanIssue {
  return {
    severity: 'info', rule: 'mixed-ranks',
    message: 'the ranks differ between modules (rank_pattern, alpha_pattern): PEFT and vLLM scale every module by 1, but llama.cpp reads one lora_alpha and '
      + 'ignores alpha_pattern; for llama.cpp export with one --rank',
  };
}

/** The models' dtype from config.json's torch_dtype, else the most common float dtype of the tensors (FP8 and F64 become BF16 and F32). */
function modelDtype(config: Record<string, unknown> | undefined, checkpoint: Checkpoint): FactorDtype {
  const named = config?.['torch_dtype'] ?? config?.['dtype'];
  if (named === 'bfloat16') return 'BF16';
  if (named === 'float16') return 'F16';
  if (named === 'float32') return 'F32';
  const counts = new Map<FactorDtype, number>();
  for (const ref of checkpoint.tensors.values()) {
    const dtype: FactorDtype | undefined = ref.dtype === 'BF16' || ref.dtype.startsWith('F8') ? 'BF16' : ref.dtype === 'F16' ? 'F16' : ref.dtype === 'F32' || ref.dtype === 'F64' ? 'F32' : undefined;
    if (dtype) counts.set(dtype, (counts.get(dtype) ?? 0) + ref.elementCount);
  }
  return [...counts.entries()].sort((x, y) => y[1] - x[1])[0]?.[0] ?? 'BF16';
}

/**
 * Factors each matrix in turn: its delta read into the backend's memory, its truncated SVD, the factors rounded to the
 * adapter's dtype and spilled, and the error of the factors as written measured against the delta.
 */
async function factorMatrices(
  factored: ReadonlyArray<{ pair: TensorPair; target: Extract<LoraTarget, { factor: true }> }>, dtype: FactorDtype, ranks: LoraRankChoice,
  weights: AdapterWeights,
  { kernels, backend, fp8, callbacks }: {
    kernels: ConstructorParameters<typeof DeltaMatrixReader>[0]; backend: Parameters<typeof factorDelta>[4]['backend'];
    fp8: ReadonlyMap<TensorRef, Fp8Weight>; callbacks: JobCallbacks;
  },
): Promise<LoraMatrix[]> {
  const storage = backend.matrixStorage?.bind(backend);
  const reader = new DeltaMatrixReader(kernels, { ...(storage ? { storage } : {}), fp8 });
  const bytesTotal = factored.reduce((sum, { target }) => sum + target.rows * target.cols * 4, 0);
  let bytesDone = 0;
  const matrices: LoraMatrix[] = [];
  try {
    for (const [index, { pair, target }] of factored.entries()) {
      if (callbacks.signal?.aborted) throw cancelledError('the LoRA export', undefined, pair.name);
      callbacks.onProgress?.({ phase: 'spectra', bytesDone, bytesTotal, tensorsDone: index, tensorsTotal: factored.length, tensor: pair.name });
      const { rows, cols } = target;
      const delta = await reader.read(pair);
      const factors = await factorDelta(delta, rows, cols, ranks, { backend, tensor: pair.name, ...(callbacks.signal ? { signal: callbacks.signal } : {}) });
      const matrix: LoraMatrix = {
        tensor: pair.name, module: target.module, kind: target.kind, shape: [rows, cols], rank: factors.rank, energy: factors.capturedEnergy,
        relativeError: 0, singularValues: factors.singularValues, squaredNorm: factors.energy,
      };
      if (factors.rank > 0 && factors.energy > 0) {
        const b = encodeFactor(factors.b, dtype);
        const a = encodeFactor(factors.a, dtype);
        matrix.relativeError = await relativeReconstructionError(delta, rows, cols, b.stored, a.stored, factors.rank, backend, factors.energy);
        const names = loraTensorNames(target.module, target.kind);
        if (target.kind === 'linear') {
          await weights.add(names.a, dtype, [factors.rank, cols], a.bytes);
          await weights.add(names.b, dtype, [rows, factors.rank], b.bytes);
        } else {
          // PEFT's embedding factors are those of ΔWᵀ: lora_embedding_A = Bᵀ [r, num_embeddings], lora_embedding_B = Aᵀ [dim, r].
          await weights.add(names.a, dtype, [factors.rank, rows], encodeFactor(transposed(b.stored, rows, factors.rank), dtype).bytes);
          await weights.add(names.b, dtype, [cols, factors.rank], encodeFactor(transposed(a.stored, factors.rank, cols), dtype).bytes);
        }
      } else {
        matrix.rank = 0;
      }
      matrices.push(matrix);
      bytesDone += rows * cols * 4;
    }
    callbacks.onProgress?.({ phase: 'spectra', bytesDone, bytesTotal, tensorsDone: factored.length, tensorsTotal: factored.length });
  } finally {
    await reader.close();
  }
  return matrices;
}

async function sizesOf(dir: string, names: readonly string[]): Promise<LoraResult['files']> {
  return Promise.all(names.map(async (file) => ({ file, bytes: (await stat(join(dir, file))).size })));
}
