import type { Checkpoint, TensorRef } from '../checkpoint/checkpoint-types';
import { readTensorBytes } from '../checkpoint/read-tensor-bytes';
import type { PlanIssue } from '../../shared/jobs';
import { findEmbedding, isOutputHeadName, rowElements, tiesEmbeddings } from './pair-tensors';

/** Rows of the head and the embedding compared, spread over the vocabulary. */
const SAMPLED_ROWS = 8;

export interface TiedHeadPlan {
  /** The residual as apply pairs it: without the duplicate head, or with the head standing for the embedding. */
  residual: Checkpoint;
  issues: PlanIssue[];
}

/**
 * A residual of a tied model may list the output head beside the embedding: the Python `residuals` package
 * saves the state dict, in which `lm_head.weight` is the embedding. Onto a target that ties them and stores
 * no head, that head is the embedding's delta listed twice: it is applied once, through the embedding, so
 * the target stays tied and no separate (or stale) head is written. A head that is not the embedding's delta
 * (the instruct model untied them) cannot go into a tied target: refused unless `force`.
 */
export async function planTiedHead(target: Checkpoint, residual: Checkpoint, force: boolean): Promise<TiedHeadPlan> {
  const embedding = findEmbedding(target);
  const heads = [...residual.tensors.values()].filter((ref) => isOutputHeadName(ref.name) && !target.tensors.has(ref.name));
  if (!embedding || !tiesEmbeddings(target) || heads.length === 0) return { residual, issues: [] };
  const tensors = new Map(residual.tensors);
  const issues: PlanIssue[] = [];
  for (const head of heads) {
    tensors.delete(head.name);
    const embeddingDelta = residual.tensors.get(embedding.name);
    if (!embeddingDelta) {
      tensors.set(embedding.name, { ...head, name: embedding.name });
      issues.push({ severity: 'info', rule: 'tied-embeddings', tensor: head.name,
        message: `${JSON.stringify(head.name)}: the target ties its output head to ${JSON.stringify(embedding.name)}, so the head's delta is applied to the embedding; the output stays tied` });
    } else if (await sameSampledRows(head, embeddingDelta)) {
      issues.push({ severity: 'info', rule: 'tied-embeddings', tensor: head.name,
        message: `${JSON.stringify(head.name)} is the delta of ${JSON.stringify(embedding.name)} listed twice (a tied model's state dict): it is applied once, through the embedding; the output stays tied` });
    } else {
      issues.push({ severity: force ? 'warning' : 'error', rule: 'tied-head-differs', tensor: head.name, file: residual.root,
        message: `${JSON.stringify(head.name)} differs from the residual's ${JSON.stringify(embedding.name)}, but the target ties them `
          + '(tie_word_embeddings): the instruct model had a head of its own, which a tied model cannot hold'
          + (force ? '; going on (--force): only the embedding\'s delta is applied, and the output stays tied'
            : '; apply to an untied target, or use --force to apply only the embedding\'s delta and keep the target tied') });
    }
  }
  return { residual: { ...residual, tensors }, issues };
}

/** Whether up to SAMPLED_ROWS rows, spread from first to last, hold the same bytes in both tensors. */
async function sameSampledRows(x: TensorRef, y: TensorRef): Promise<boolean> {
  if (x.dtype !== y.dtype || x.shape.join(',') !== y.shape.join(',')) return false;
  const rows = x.shape[0] ?? 1;
  const rowBytes = x.byteLength / rows;
  if (rowElements(x.shape) === 0) return true;
  const count = Math.min(SAMPLED_ROWS, rows);
  const picked = new Set(Array.from({ length: count }, (_, i) => Math.round((i * (rows - 1)) / Math.max(1, count - 1))));
  for (const row of picked) {
    const [a, b] = await Promise.all([readTensorBytes(x, row * rowBytes, rowBytes), readTensorBytes(y, row * rowBytes, rowBytes)]);
    if (Buffer.compare(a, b) !== 0) return false;
  }
  return true;
}
