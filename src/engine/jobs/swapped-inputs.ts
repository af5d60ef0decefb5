import type { Checkpoint } from '../checkpoint/checkpoint-types';
import type { PlanIssue } from '../../shared/jobs';
import { configNumber, type TensorPair } from './pair-tensors';

/**
 * Instruct models add tokens (chat markers) to the base's vocabulary and never drop any, so an
 * instruct model with fewer embedding rows, or a smaller vocab_size, than the base means --base and
 * --instruct were given the wrong way round: the residual would be the negated one. Compute refuses
 * it unless forced.
 */
export function swappedInputsIssue(base: Checkpoint, instruct: Checkpoint, pairs: readonly TensorPair[], force: boolean): PlanIssue | undefined {
  const shrunk = pairs.find((pair) => pair.growth?.side === 'b');
  const baseVocabulary = configNumber(base.config, 'vocab_size');
  const instructVocabulary = configNumber(instruct.config, 'vocab_size');
  const evidence = shrunk?.growth
    ? `${JSON.stringify(shrunk.name)} has ${shrunk.growth.fromRows} rows in the instruct model and ${shrunk.growth.toRows} in the base`
    : baseVocabulary !== undefined && instructVocabulary !== undefined && instructVocabulary < baseVocabulary
      ? `config.json vocab_size is ${instructVocabulary} in the instruct model and ${baseVocabulary} in the base`
      : undefined;
  if (evidence === undefined) return undefined;
  return {
    severity: force ? 'warning' : 'error',
    rule: 'shape-mismatch',
    file: instruct.root,
    ...(shrunk ? { tensor: shrunk.name } : {}),
    message: `base and instruct look swapped: the instruct model has fewer rows than the base (${evidence}); check --base and --instruct`
      + (force ? ' (going on: --force)' : ' (use --force if the instruct model really drops tokens)'),
  };
}
