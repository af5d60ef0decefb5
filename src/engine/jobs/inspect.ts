import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import type { Checkpoint } from '../checkpoint/checkpoint-types';
import { parseCheckpointIndex } from '../checkpoint/checkpoint-index';
import { describeFp8Checkpoint, summarizeFp8Checkpoint } from '../checkpoint/fp8-scales';
import { detectQuantization } from '../checkpoint/quantization';
import { isSurgeonError } from '../errors';
import { isLoraAdapter, readLoraAdapter } from '../lora/adapter-reader';
import { parseTensorName } from '../report/layer-names';
import { loadTokenizerFiles, summarizeTokenizer } from '../report/tokenizer-diff';
import type { InspectIndex, InspectLora, InspectOptions, InspectQuantization, InspectResult, JobCallbacks } from '../../shared/jobs';
import { openInput } from './open-input';

/** The expert number in `block_sparse_moe.experts.3.w1.weight`, `mlp.experts.12.down_proj.weight`. */
const EXPERT_COMPONENT = /(?:^|\.)experts\.(\d+)(?=\.|$)/;

/**
 * A checkpoint's tensors, sizes, shards, architecture and tokenizer, from headers and side files alone.
 * A checkpoint whose weights are not all there (Git LFS pointers, shards not downloaded, an index alone)
 * is described as far as it can be: what its index names, shard by shard, and which shards are missing.
 */
export async function runInspect(options: InspectOptions, callbacks: JobCallbacks = {}): Promise<InspectResult> {
  const checkpoint = await openInput(options.path, callbacks, { quantized: 'allow', weights: 'optional' });
  const tensors = [...checkpoint.tensors.values()].map((ref) => ({
    name: ref.name, dtype: ref.dtype, shape: ref.shape, file: relative(checkpoint.root, ref.file.path) || ref.file.name, bytes: ref.byteLength,
  }));
  const dtypes: Record<string, number> = {};
  let parameters = 0;
  for (const ref of checkpoint.tensors.values()) {
    dtypes[ref.dtype] = (dtypes[ref.dtype] ?? 0) + ref.elementCount;
    parameters += ref.elementCount;
  }
  const architectures = checkpoint.config?.['architectures'];
  const modelType = checkpoint.config?.['model_type'];
  const metadata = Object.assign({}, ...checkpoint.files.map((file) => file.header.metadata ?? {})) as Record<string, string>;
  const tokenizer = checkpoint.layout === 'file' ? null : summarizeTokenizer(await loadTokenizerFiles(checkpoint.root));
  return {
    kind: 'inspect',
    path: options.path,
    layout: checkpoint.layout,
    tensors,
    parameters,
    bytes: tensors.reduce((sum, tensor) => sum + tensor.bytes, 0),
    shards: checkpoint.files.map((file) => file.name),
    dtypes,
    architecture: Array.isArray(architectures) && typeof architectures[0] === 'string' ? architectures[0] : null,
    modelType: typeof modelType === 'string' ? modelType : null,
    metadata,
    tokenizer: tokenizer && (tokenizer.vocabSize !== null || tokenizer.addedTokens > 0 || tokenizer.hasChatTemplate) ? tokenizer : null,
    ...(checkpoint.indexedTensors ? { index: await indexSummary(checkpoint, checkpoint.indexedTensors) } : {}),
    ...(checkpoint.missingWeights ? { missingWeights: checkpoint.missingWeights.map((missing) => ({ ...missing })) } : {}),
    ...quantizationOf(checkpoint),
    ...await loraOf(checkpoint),
  };
}

/** What a PEFT LoRA adapter holds, from its adapter_config.json and tensor names; {} for anything else. */
async function loraOf(checkpoint: Checkpoint): Promise<{ lora?: InspectLora }> {
  if (!isLoraAdapter(checkpoint)) return {};
  const { adapter } = await readLoraAdapter(checkpoint);
  const baseModel = adapter.config.base_model_name_or_path;
  return { lora: {
    modules: adapter.modules.length,
    ranks: [...new Set(adapter.modules.map((module) => module.rank))].sort((x, y) => x - y),
    savedTensors: adapter.modelTensors.length,
    baseModel: typeof baseModel === 'string' ? baseModel : null,
  } };
}

/** The quantization of the checkpoint, as detectQuantization and describeFp8Checkpoint see it; {} for a plain one. */
function quantizationOf(checkpoint: Checkpoint): { quantization?: InspectQuantization } {
  const detected = detectQuantization(checkpoint);
  if (!detected) return {};
  const { method, layout } = detected;
  try {
    const fp8 = describeFp8Checkpoint(checkpoint);
    if (fp8 !== undefined) {
      const { weights, ...scheme } = summarizeFp8Checkpoint(fp8, method);
      return { quantization: { ...scheme, tensors: weights, readable: true } };
    }
  } catch (error) {
    if (!isSurgeonError(error)) throw error;
    return { quantization: { method, ...(layout ? { layout } : {}), tensors: detected.tensors, readable: false, refusal: error.message } };
  }
  return { quantization: {
    method, ...(layout ? { layout } : {}), tensors: detected.tensors, readable: false,
    refusal: 'a quantized layout that compute, apply, verify and diff do not read (dequantize it first)',
  } };
}

/** What the index names, shard by shard: a summary that needs none of the shards. */
async function indexSummary(checkpoint: Checkpoint, weightMap: ReadonlyMap<string, string>): Promise<InspectIndex> {
  const absent = new Set(checkpoint.missingWeights?.map((missing) => missing.file));
  const perShard = new Map<string, number>();
  const layers = new Set<number>();
  const experts = new Set<number>();
  for (const [name, shard] of weightMap) {
    perShard.set(shard, (perShard.get(shard) ?? 0) + 1);
    const { layer } = parseTensorName(name);
    if (layer !== null) layers.add(layer);
    const expert = EXPERT_COMPONENT.exec(name)?.[1];
    if (expert !== undefined) experts.add(Number(expert));
  }
  const totalSize = checkpoint.indexPath === undefined ? undefined
    : await readFile(checkpoint.indexPath, 'utf8').then((text) => parseCheckpointIndex(text, checkpoint.indexPath!).totalSize, () => undefined);
  return {
    tensors: weightMap.size,
    shards: [...perShard.keys()].sort().map((file) => ({ file, tensors: perShard.get(file)!, present: !absent.has(file) })),
    layers: layers.size > 0 ? layers.size : null,
    experts: experts.size > 0 ? experts.size : null,
    ...(totalSize !== undefined ? { totalSize } : {}),
  };
}
