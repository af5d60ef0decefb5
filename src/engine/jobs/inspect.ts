import { relative } from 'node:path';
import { DTYPE_BITS } from '../format/dtype';
import { loadTokenizerFiles, summarizeTokenizer } from '../report/tokenizer-diff';
import type { InspectOptions, InspectResult, JobCallbacks } from '../../shared/jobs';
import { openInput } from './open-input';

/** A checkpoint's tensors, sizes, shards, architecture and tokenizer, from headers and side files alone. */
export async function runInspect(options: InspectOptions, callbacks: JobCallbacks = {}): Promise<InspectResult> {
  const checkpoint = await openInput(options.path, callbacks, { quantized: 'allow' });
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
  };
}

/** Bits per parameter of the dominant dtype, for size estimates in the UI. */
export function dominantBits(dtypes: Record<string, number>): number {
  const [dtype] = Object.entries(dtypes).sort((x, y) => y[1] - x[1])[0] ?? ['F32'];
  return DTYPE_BITS[dtype as keyof typeof DTYPE_BITS] ?? 32;
}
