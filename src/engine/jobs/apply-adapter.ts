/**
 * `apply --residual <PEFT LoRA adapter>`: M = C + α · scaling · (B @ A) for each module of the adapter (peft's
 * merge_and_unload, without Python), the model tensors it saved whole (modules_to_save) in place of the target's, and
 * every other tensor copied. Each piece's ΔW is computed into binary32 in the order docs/lora.md defines
 * (lora/lora-delta.ts) and added by apply's own kernel, so the bits are the same on any machine.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Checkpoint, TensorRef } from '../checkpoint/checkpoint-types';
import { readTensorBytes } from '../checkpoint/read-tensor-bytes';
import { SurgeonError } from '../errors';
import { isFloatDtype, type Dtype } from '../format/dtype';
import { writeProvenance } from '../io/provenance-file';
import type { ElementwiseKernels } from '../kernels/kernels';
import { readLoraAdapter, type AdapterModelTensor, type LoraAdapter, type LoraModule } from '../lora/adapter-reader';
import type { FactorDtype } from '../lora/factor-encoding';
import { LoraDelta, type StoredFactor } from '../lora/lora-delta';
import { weightOfModule } from '../lora/peft-adapter';
import { isFp8Dtype } from '../numerics/float8';
import { appliedCardInput, renderModelCard } from '../report/model-card';
import type { ApplyOptions, ApplyResult, JobCallbacks, OutputDtype, PlanIssue } from '../../shared/jobs';
import {
  appliedSideFileNames, applyStreamTasks, planFp8Output, plannedTensors, residualBaseCompatibility, unmatchedPatternIssues,
  writeOutputConfigAndSideFiles, type ApplySpecs, type TensorSelection,
} from './apply';
import { applyHandlers, type ApplyTask, type PieceOperand, type PieceResidual } from './apply-pieces';
import { dominantDtype } from './compute';
import { checkpointRef } from './diff-report';
import { dequantizedView, Fp8Operands, fp8WeightsOf } from './fp8-inputs';
import { BandQuantizer } from './fp8-output';
import type { Inputs, WritePlan } from './job-pipeline';
import { outputSideFiles } from './output-side-files';
import { isArithmeticDtype, type TensorPair } from './pair-tensors';
import { requestedDtype } from './requested-dtype';
import {
  jobStreamOptions, PIECE_SCRATCH_BYTES, streamOperand, streamTensors, type StreamHandlers, type StreamTask,
} from './tensor-stream';

const FORMULA = 'M = C + α · scaling · (B @ A)';

export async function planAdapterApply(
  options: ApplyOptions, callbacks: JobCallbacks, { base: target, residual }: Inputs<ApplySpecs>, scale: number, { include, exclude }: TensorSelection,
): Promise<WritePlan<ApplySpecs, void, ApplyResult>> {
  const force = options.force === true;
  const requested = options.dtype ?? 'same';
  // An FP8 target's weights are dequantized with their scales, as apply reads them (docs/fp8.md).
  const targetView = dequantizedView(target);
  const model = targetView.checkpoint;
  const { adapter, issues: adapterIssues } = await readLoraAdapter(residual);
  const pairing = pairAdapter(model, adapter, { force, requested, scale });
  const sideFiles = outputSideFiles(target, residual);
  const issues: PlanIssue[] = [
    ...await residualBaseCompatibility(target, residual, force),
    ...adapterIssues,
    ...pairing.issues,
    ...sideFiles.issues,
  ];
  issues.push(...unmatchedPatternIssues([...pairing.merges.keys(), ...pairing.replacements.keys()],
    [[options.include, include, '--include'], [options.exclude, exclude, '--exclude']]));

  const selected = (name: string): boolean => (!include || include.test(name)) && !(exclude?.test(name));
  const replaced = new Set<string>();
  const tasks: ApplyTask[] = [...model.tensors.values()].map((ref) => {
    const replacement = pairing.replacements.get(ref.name);
    if (replacement && selected(ref.name)) {
      replaced.add(ref.name);
      return { pair: changedPair(ref.name, replacement.ref), add: false };
    }
    if (pairing.merges.has(ref.name) && selected(ref.name)) return { pair: changedPair(ref.name, ref), add: true };
    return { pair: { name: ref.name, a: ref, status: 'only-in-a', comparable: false, arithmetic: false, shape: ref.shape }, add: false };
  });
  // The target's dtype, also for a tensor the adapter replaces.
  const dtypeOf = (task: ApplyTask): Dtype => requestedDtype(model.tensors.get(task.pair.name)!.dtype, requested);
  const shapeOf = (task: ApplyTask): number[] => task.pair.shape;
  const fp8Weights = fp8WeightsOf(targetView);
  const fp8Plan = requested === 'fp8' ? planFp8Output(targetView, tasks, dtypeOf) : undefined;
  const merged = tasks.filter((task) => task.add).map((task) => pairing.merges.get(task.pair.name)!);
  return {
    issues,
    sideFiles: () => appliedSideFileNames(target, sideFiles.copies),
    tensors: () => tasks.flatMap((task) => plannedTensors(task, shapeOf(task), dtypeOf(task), fp8Plan)),
    async stream(kernels, { weights, inputReading }) {
      const fp8 = new Fp8Operands<ApplyTask>(kernels, fp8Weights);
      const bands = new BandQuantizer(kernels);
      const deltas = new AdapterDeltas(kernels, new Map(merged.map((module) => [weightOfModule(module.module), module])));
      try {
        const streamTasks = tasks.flatMap((task) => applyStreamTasks(task, [streamOperand(task.pair.a!)], shapeOf(task), dtypeOf(task), weights, fp8Plan));
        await streamTensors(streamTasks, deltas.handlers(applyHandlers(kernels, scale, fp8, bands, deltas.residualOf)),
          jobStreamOptions(kernels, callbacks, inputReading));
      } finally {
        fp8.free();
        bands.free();
        deltas.free();
      }
    },
    async finish(_streamed, output) {
      const result: ApplyResult = {
        kind: 'apply',
        out: output.target,
        scale,
        tensors: tasks.length,
        applied: tasks.filter((task) => task.add || replaced.has(task.pair.name)).map((task) => task.pair.name),
        copiedUnchanged: tasks.filter((task) => !task.add && !replaced.has(task.pair.name)).map((task) => task.pair.name),
        skipped: pairing.skipped,
        files: output.files,
        issues,
        vocabularyGrowth: [],
        lora: {
          modules: merged.map(({ module, kind, rank, scaling }) => ({ module, tensor: weightOfModule(module), kind, rank, scaling })),
          replaced: [...replaced],
        },
        seconds: 0,
      };
      const dtype = dominantDtype(tasks.map(dtypeOf));
      await writeOutputConfigAndSideFiles(output.dir, target, sideFiles.copies, {
        tasks, dtypeOf, requested, dequantized: fp8Weights.size > 0, requantized: fp8Plan !== undefined,
      });
      const createdAt = new Date();
      await writeProvenance(output.dir, {
        createdAt: createdAt.toISOString(),
        operation: 'apply',
        formula: FORMULA,
        scale,
        include: options.include ?? null,
        exclude: options.exclude ?? null,
        base: { ...checkpointRef(target), files: output.provenance.base },
        // The scalings come from adapter_config.json: its digest is recorded with the weights'.
        residual: { ...checkpointRef(residual), files: [...output.provenance.residual, adapter.configFile] },
        dtype,
        output: output.files,
      });
      await writeFile(join(output.dir, 'README.md'), renderModelCard(appliedCardInput(result, {
        base: checkpointRef(target), residual: checkpointRef(residual), dtype,
      }, { createdAt })));
      return result;
    },
  };
}

function changedPair(name: string, ref: TensorRef): TensorPair {
  return { name, a: ref, status: 'changed', comparable: true, arithmetic: true, shape: ref.shape };
}

interface AdapterPairing {
  /** The modules merged, by the target tensor each changes. */
  merges: Map<string, LoraModule>;
  /** The adapter's model tensors, by the target tensor each replaces. */
  replacements: Map<string, AdapterModelTensor>;
  /** Target tensors the adapter would change that the target lacks, left out under --force. */
  skipped: string[];
  issues: PlanIssue[];
}

/**
 * Lines up each module of the adapter with the target's `<module>.weight` and each saved model tensor with the target's
 * tensor of that name; one the target lacks is an error (a warning, skipped, with --force), a shape that differs is
 * always one. Every pairing is listed as a note, so the dry run shows what would be merged into what.
 */
function pairAdapter(model: Checkpoint, adapter: LoraAdapter, { force, requested, scale }: { force: boolean; requested: OutputDtype; scale: number }): AdapterPairing {
  const pairing: AdapterPairing = { merges: new Map(), replacements: new Map(), skipped: [], issues: [] };
  const { issues } = pairing;
  const error = (rule: string, ref: TensorRef, message: string): void => {
    issues.push({ severity: 'error', rule, file: ref.file.path, tensor: ref.name, message: `${JSON.stringify(ref.name)}: ${message}` });
  };
  const unknown = (tensor: string, ref: TensorRef, what: string): void => {
    if (force) pairing.skipped.push(tensor);
    issues.push({
      severity: force ? 'warning' : 'error', rule: 'lora-unknown-module', file: ref.file.path, tensor: ref.name,
      message: `${JSON.stringify(ref.name)}: the adapter changes ${what}, but the target has no ${JSON.stringify(tensor)}: `
        + `${force ? 'skipped (--force)' : 'it was trained for another model (use --force to skip it)'}`,
    });
  };

  for (const module of adapter.modules) {
    const tensor = weightOfModule(module.module);
    const ref = model.tensors.get(tensor);
    if (!ref) {
      unknown(tensor, module.a, `module ${JSON.stringify(module.module)}`);
      continue;
    }
    const [a, b] = [module.a.shape as [number, number], module.b.shape as [number, number]];
    const product = module.kind === 'linear'
      ? `lora_B [${b.join(', ')}] @ lora_A [${a.join(', ')}]`
      : `(lora_embedding_B [${b.join(', ')}] @ lora_embedding_A [${a.join(', ')}])ᵀ`;
    const expected = module.kind === 'linear' ? [b[0], a[1]] : [a[1], b[0]];
    if (!isArithmeticDtype(ref.dtype)) {
      error('dtype-mismatch', module.a, `the target's ${JSON.stringify(tensor)} is ${ref.dtype}, not a float weight a LoRA can change`);
    } else if (ref.shape.length !== 2 || ref.shape[0] !== expected[0] || ref.shape[1] !== expected[1]) {
      error('shape-mismatch', module.a, `${product} is [${expected.join(', ')}], but the target's ${JSON.stringify(tensor)} is [${ref.shape.join(', ')}]`);
    } else {
      pairing.merges.set(tensor, module);
      const scaling = `scaling ${module.scaling} = lora_alpha ${module.alpha} / ${adapter.config.use_rslora ? '√' : ''}r ${module.rank}`;
      issues.push({
        severity: 'info', rule: 'lora-module', tensor,
        message: `${JSON.stringify(tensor)} [${ref.shape.join(', ')}] += α · ${module.scaling} · ${product} (${module.a.dtype} factors, rank ${module.rank}, ${scaling})`,
      });
    }
  }

  for (const saved of adapter.modelTensors) {
    const ref = model.tensors.get(saved.tensor);
    if (!ref) {
      unknown(saved.tensor, saved.ref, `the model tensor ${JSON.stringify(saved.tensor)} (modules_to_save)`);
    } else if (ref.shape.length !== saved.ref.shape.length || ref.shape.some((dimension, index) => dimension !== saved.ref.shape[index])) {
      error('shape-mismatch', saved.ref, `it replaces the target's ${JSON.stringify(saved.tensor)}, but is [${saved.ref.shape.join(', ')}] against [${ref.shape.join(', ')}]`);
    } else if (!isFloatDtype(saved.ref.dtype) || !isArithmeticDtype(ref.dtype)) {
      error('dtype-mismatch', saved.ref, `a ${saved.ref.dtype} tensor in place of the target's ${ref.dtype} ${JSON.stringify(saved.tensor)}: only float tensors are converted`);
    } else if (requested === 'fp8' && isFp8Dtype(ref.dtype)) {
      error('lora-model-tensor', saved.ref, `it replaces the FP8 weight ${JSON.stringify(saved.tensor)}, whose scales --dtype fp8 would copy for other values; `
        + 'write the output as bf16 instead');
    } else {
      pairing.replacements.set(saved.tensor, saved);
      issues.push({
        severity: 'warning', rule: 'lora-model-tensor', file: saved.ref.file.path, tensor: saved.ref.name,
        message: `${JSON.stringify(saved.tensor)} is replaced by the adapter's ${JSON.stringify(saved.ref.name)} (${saved.ref.dtype}, converted to the target's dtype), `
          + `as PEFT loads ${saved.listed ? 'a module of modules_to_save' : 'a saved model tensor'}: right for the model the adapter was trained on, `
          + `wrong for another${scale === 1 ? '' : `; --scale ${scale} does not apply to it`}`,
      });
    }
  }
  return pairing;
}

/**
 * The ΔW of the merged tasks in flight: a task's factors are read and widened when the stream prepares it and dropped
 * when it releases it, so memory holds the factors of at most the few tasks in flight. Each piece's ΔW goes into one
 * binary32 scratch buffer of the kernels, which apply's addScaled then reads as R.
 */
class AdapterDeltas {
  private readonly loaded = new Map<StreamTask<ApplyTask>, { delta: LoraDelta; module: LoraModule }>();
  /** The binary32 scratch ΔW is written into, as apply's R. */
  private scratch: PieceOperand | undefined;
  private values: Float32Array | undefined;

  constructor(private readonly kernels: ElementwiseKernels, private readonly modules: ReadonlyMap<string, LoraModule>) {}

  /** `handlers` with the factors loaded and released beside what they load themselves (FP8 scales). */
  handlers(handlers: StreamHandlers<ApplyTask>): StreamHandlers<ApplyTask> {
    return {
      ...handlers,
      prepareTask: async (task) => {
        await Promise.all([handlers.prepareTask?.(task), this.prepare(task)]);
      },
      releaseTask: (task) => {
        handlers.releaseTask?.(task);
        this.loaded.delete(task);
      },
    };
  }

  readonly residualOf: PieceResidual = ({ task, start, count }) => {
    const { delta, module } = this.loaded.get(task)!;
    const scratch = this.scratchOperand();
    delta.writePiece(start, count, this.values!);
    if (this.kernels.anyNonFinite(scratch.buffer, 'F32', count)) {
      const index = this.values!.subarray(0, count).findIndex((value) => !Number.isFinite(value));
      throw new SurgeonError('non-finite-result',
        `element ${start + index} of ΔW = scaling · (B @ A) is ${this.values![index]} in binary32 although the factors are finite: `
        + 'their product overflows; nothing was written', module.a.file.path, task.name);
    }
    return scratch;
  };

  free(): void {
    if (this.scratch) this.kernels.free(this.scratch.buffer);
    this.scratch = undefined;
    this.values = undefined;
    this.loaded.clear();
  }

  private async prepare(task: StreamTask<ApplyTask>): Promise<void> {
    const module = task.context.add ? this.modules.get(task.context.pair.name) : undefined;
    if (!module) return;
    const [a, b] = await Promise.all([storedFactor(module.a), storedFactor(module.b)]);
    const delta = LoraDelta.of(module.kind, a, b, module.scaling);
    const nonFinite = delta.nonFiniteFactor;
    if (nonFinite) {
      const ref = nonFinite.factor === 'a' ? module.a : module.b;
      throw new SurgeonError('non-finite-matrix',
        `element ${nonFinite.index} of the factor is ${nonFinite.value}: it would make a whole ${nonFinite.factor === 'a' ? 'column' : 'row'} `
        + `of ${JSON.stringify(task.context.pair.name)} non-finite; nothing was written`, ref.file.path, ref.name);
    }
    this.loaded.set(task, { delta, module });
  }

  /** The scratch, and its binary32 view in `values` (made again only when the kernels' memory grew). */
  private scratchOperand(): PieceOperand {
    this.scratch ??= { buffer: this.kernels.allocate(PIECE_SCRATCH_BYTES), dtype: 'F32' };
    const { bytes } = this.scratch.buffer;
    if (this.values?.buffer !== bytes.buffer) this.values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    return this.scratch;
  }
}

async function storedFactor(ref: TensorRef): Promise<StoredFactor> {
  return { bytes: await readTensorBytes(ref), dtype: ref.dtype as FactorDtype, shape: ref.shape as [number, number] };
}
