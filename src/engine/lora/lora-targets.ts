import { parseTensorName } from '../report/layer-names';
import type { LoraEmbeddings, LoraLeftOut } from '../../shared/jobs';
import type { TensorPair } from '../jobs/pair-tensors';
import { moduleOfWeight, type LoraModuleKind } from './peft-adapter';

/** Where a delta goes in an adapter: factored as a module of PEFT's, or left out and why. */
export type LoraTarget =
  | { factor: true; module: string; kind: LoraModuleKind; rows: number; cols: number }
  | { factor: false; reason: LoraLeftOut['reason'] };

/**
 * Largest matrix factored: 2^30 elements, 4 GiB of f32 held with its SVD's thin panels. That takes in the embeddings
 * and heads of 70B-class models (128256 x 8192), which only `--embeddings lora` factors; the spectral pass, which
 * reads every matrix, stops at 2^28. The WebAssembly backend's memory ends at 4 GiB: past about 2^29.9 elements only
 * onnxruntime-node or plain JavaScript hold the matrix.
 */
export const MAX_LORA_ELEMENTS = 2 ** 30;

/** Modules outside the blocks that only `--embeddings lora` factors: the token embeddings, nn.Embedding in PEFT, and the head, nn.Linear. */
const EMBEDDING_MODULES: Readonly<Record<string, LoraModuleKind>> = { embed: 'embedding', lm_head: 'linear' };

/**
 * What LoRA can carry of one delta. A 2-D float weight of a linear module (attention and MLP projections,
 * experts, routers) is factored. 1-D deltas (norms, biases) and tensors of more dimensions are not matrices;
 * the embeddings and the head are left out unless `embeddings` is `lora`; grown vocabulary rows cannot be
 * added by an adapter at all; a matrix too large for one SVD in memory is left out and says so.
 */
export function loraTarget(pair: TensorPair, embeddings: LoraEmbeddings): LoraTarget {
  if (!pair.comparable || !pair.arithmetic || !pair.b) return { factor: false, reason: 'not-float' };
  if (pair.growth) return { factor: false, reason: 'vocabulary-growth' };
  const module = moduleOfWeight(pair.name);
  if (pair.shape.length !== 2 || module === undefined) return { factor: false, reason: 'not-a-matrix' };
  const [rows, cols] = pair.shape as [number, number];
  const location = parseTensorName(pair.name);
  const embedding = location.layer === null ? EMBEDDING_MODULES[location.module] : undefined;
  if (location.layer === null && location.module === 'pos_embed') return { factor: false, reason: 'embedding' };
  if (embedding !== undefined && embeddings !== 'lora') return { factor: false, reason: 'embedding' };
  if (rows * cols > MAX_LORA_ELEMENTS) return { factor: false, reason: 'too-large' };
  return { factor: true, module, kind: embedding ?? 'linear', rows, cols };
}
