import type { InspectResult, InspectTensor } from '../../shared/jobs';
import { formatBytes, formatCount, formatParameters } from '../../shared/quantities';
import { loraAdapterWords } from '../../shared/lora-text';
import { quantizationScheme } from '../../shared/quantization-text';
import { countOf, textTable } from '../text-table';

/** Above this many tensors, `inspect` prints one line per tensor name with its layer (and expert) indexes folded. */
const GROUP_ABOVE = 60;
/** A numbered component of a tensor name: the layer in `model.layers.7.mlp`, the expert in `experts.3.w1`. */
const INDEX_COMPONENT = /(?<=^|\.)\d+(?=\.|$)/g;

/** What `inspect` prints: the model in one line, its dtypes and tokenizer, then a table of its tensors. */
export function describeInspect(result: InspectResult, all: boolean): string[] {
  const architecture = result.lora ? loraAdapterWords(result.lora)
    : [result.architecture, result.modelType && result.modelType !== result.architecture ? `(${result.modelType})` : undefined]
      .filter(Boolean).join(' ') || 'architecture unknown (no config.json)';
  const tokenizer = result.tokenizer;
  const grouped = !all && result.tensors.length > GROUP_ABOVE;
  if (result.missingWeights && result.tensors.length === 0) return describeWithoutWeights(result, architecture);
  return [
    `${result.path}: ${architecture}, ${countOf(result.tensors.length, 'tensor')}, ${formatParameters(result.parameters)} parameters, `
      + `${formatBytes(result.bytes)} in ${countOf(Math.max(1, result.shards.length), 'file')}.`,
    ...(result.missingWeights ? missingLines(result) : []),
    `  dtypes: ${Object.entries(result.dtypes).map(([dtype, count]) => `${dtype} ${formatCount(count)}`).join(', ')}`,
    ...(tokenizer ? [`  tokenizer: ${tokenizer.vocabSize === null ? 'vocabulary size unknown' : `vocabulary ${formatCount(tokenizer.vocabSize)}`}, `
      + `${countOf(tokenizer.addedTokens, 'added token')}, ${tokenizer.hasChatTemplate ? 'a chat template' : 'no chat template'}`] : []),
    ...(result.quantization ? [quantizationLine(result.quantization)] : []),
    '',
    ...textTable(
      [{ header: grouped ? 'tensors' : 'tensor' }, { header: 'dtype' }, { header: 'shape', align: 'right' }, { header: 'shard' }],
      grouped ? groupedRows(result.tensors) : result.tensors.map((tensor) => [tensor.name, tensor.dtype, shapeText(tensor.shape), tensor.file]),
    ),
    ...(grouped ? [`  (${countOf(result.tensors.length, 'tensor')} folded by layer and expert; --all lists every one)`] : []),
  ];
}

/** `quantization: fp8, block scales 128 x 128, 3 tensors quantized (read dequantized by compute, apply, verify and diff)`. */
function quantizationLine(quantization: NonNullable<InspectResult['quantization']>): string {
  const read = quantization.readable ? 'read dequantized by compute, apply, verify and diff' : `not read: ${quantization.refusal ?? 'unknown layout'}`;
  return `  quantization: ${quantizationScheme(quantization)}, ${countOf(quantization.tensors.length, 'tensor')} quantized (${read})`;
}

/**
 * A checkpoint whose weights are not here (Git LFS pointers, shards not downloaded, an index or configs
 * alone): what its index says, shard by shard, and which files are missing and why.
 */
function describeWithoutWeights(result: InspectResult, architecture: string): string[] {
  const index = result.index;
  const tokenizer = result.tokenizer;
  return [
    `${result.path}: ${architecture}; the weights are not present${index ? `: the index names ${countOf(index.tensors, 'tensor')} in ${countOf(index.shards.length, 'shard')}` : ''}.`,
    ...(index ? [`  ${[
      index.layers === null ? undefined : countOf(index.layers, 'layer'),
      index.experts === null ? undefined : `${countOf(index.experts, 'expert')} per layer`,
      index.totalSize === undefined ? undefined : `total_size ${formatBytes(index.totalSize)}`,
    ].filter(Boolean).join(', ') || 'no layers named'}`] : []),
    ...missingLines(result, index !== undefined),
    ...(tokenizer ? [`  tokenizer: ${tokenizer.vocabSize === null ? 'vocabulary size unknown' : `vocabulary ${formatCount(tokenizer.vocabSize)}`}, `
      + `${countOf(tokenizer.addedTokens, 'added token')}, ${tokenizer.hasChatTemplate ? 'a chat template' : 'no chat template'}`] : []),
    ...(index ? ['', ...textTable([{ header: 'shard' }, { header: 'tensors', align: 'right' }, { header: 'weights' }],
      index.shards.map((shard) => [shard.file, formatCount(shard.tensors), shard.present ? 'present' : missingReason(result, shard.file)]))] : []),
  ];
}

/** Which weight files are not there: counted by reason, each named unless the shard table follows. */
function missingLines(result: InspectResult, tableFollows = false): string[] {
  const missing = result.missingWeights ?? [];
  const folder = missing.find((file) => file.reason === 'no-weights');
  if (folder) return [`  weights: ${folder.message}`];
  const pointers = missing.filter((file) => file.reason === 'lfs-pointer').map((file) => file.file);
  const absent = missing.filter((file) => file.reason !== 'lfs-pointer').map((file) => file.file);
  const named = (files: string[]): string => (tableFollows || files.length === 0 ? '' : `: ${files.join(', ')}`);
  const parts = [
    ...(pointers.length > 0 ? [`${countOf(pointers.length, 'Git LFS pointer')}${named(pointers)}`] : []),
    ...(absent.length > 0 ? [`${formatCount(absent.length)} not downloaded${named(absent)}`] : []),
  ];
  const of = result.index ? ` of ${countOf(result.index.shards.length, 'weight file')}` : ` ${missing.length === 1 ? 'weight file' : 'weight files'}`;
  return [`  weights: ${formatCount(missing.length)}${of} not present (${parts.join('; ')})${pointers.length > 0 ? '; `git lfs pull` fetches them' : ''}`];
}

function missingReason(result: InspectResult, file: string): string {
  const reason = result.missingWeights?.find((missing) => missing.file === file)?.reason;
  return reason === 'lfs-pointer' ? 'Git LFS pointer' : 'not downloaded';
}

/**
 * Tensors that differ only in their numbered components (and share dtype and shape) become one row:
 * `model.layers.{0..31}.mlp.up_proj.weight`, in the order their first member appears.
 */
function groupedRows(tensors: readonly InspectTensor[]): string[][] {
  const groups = new Map<string, { tensors: InspectTensor[]; indexes: Array<Set<number>> }>();
  for (const tensor of tensors) {
    const indexes = [...tensor.name.matchAll(INDEX_COMPONENT)].map((match) => Number(match[0]));
    const template = tensor.name.replace(INDEX_COMPONENT, '#');
    const key = `${template}\u0000${tensor.dtype}\u0000${tensor.shape.join(',')}`;
    let group = groups.get(key);
    if (!group) {
      group = { tensors: [], indexes: indexes.map(() => new Set<number>()) };
      groups.set(key, group);
    }
    group.tensors.push(tensor);
    indexes.forEach((index, position) => group!.indexes[position]!.add(index));
  }
  return [...groups.values()].map(({ tensors: members, indexes }) => {
    const first = members[0]!;
    let position = 0;
    const name = members.length === 1 ? first.name : first.name.replace(INDEX_COMPONENT, () => indexSetText(indexes[position++]!));
    const shards = new Set(members.map((tensor) => tensor.file));
    return [name, first.dtype, shapeText(first.shape), shards.size === 1 ? first.file : `${countOf(shards.size, 'file')}`];
  });
}

/** `{0..31}` for a run, `{0,2,5}` for a few, `{12 of 0..63}` for many with gaps, the number itself for one. */
function indexSetText(indexes: ReadonlySet<number>): string {
  const sorted = [...indexes].sort((x, y) => x - y);
  if (sorted.length === 1) return String(sorted[0]);
  const [low, high] = [sorted[0]!, sorted.at(-1)!];
  if (high - low + 1 === sorted.length) return `{${low}..${high}}`;
  return sorted.length <= 4 ? `{${sorted.join(',')}}` : `{${sorted.length} of ${low}..${high}}`;
}

function shapeText(shape: readonly number[]): string {
  return shape.length === 0 ? 'scalar' : shape.join(' x ');
}
