import type { Checkpoint } from '../checkpoint/checkpoint-types';
import { CONFIG_FILE_NAME } from '../checkpoint/side-files';
import { parameterNamesHash, shapesHash, type ResidualTensorShape } from '../report/residuals-config';
import type { PlanIssue } from '../../shared/jobs';
import { formatFirstOf } from '../../shared/quantities';

/** Names listed in a message before "and N more". */
const LISTED = 5;

/**
 * A residual's config.json (ours, or the Python `residuals` package's) records hashes of its tensor names and
 * shapes. They are recomputed from the weights, so that a truncated upload or a hand-edited file is caught
 * before it is applied or verified. The hashes alone cannot say which tensors changed: `reference` (the
 * target of apply, the instruct model of verify) names them when its tensors reproduce the recorded hash.
 */
export function residualConfigIssues(residual: Checkpoint, reference: Checkpoint, severity: PlanIssue['severity'], forceHint: string): PlanIssue[] {
  const config = residual.config;
  const recordedNames = config?.['parameter_names_hash'];
  const recordedShapes = config?.['shapes_hash'];
  if (residual.layout === 'file' || typeof recordedNames !== 'string' || typeof recordedShapes !== 'string') return [];
  const file = `${residual.root}/${CONFIG_FILE_NAME}`;
  const held = [...residual.tensors.values()];
  const problem = (message: string): PlanIssue[] => [{ severity, rule: 'residual-config-mismatch', file, message: `${message}${forceHint}` }];

  if (parameterNamesHash(held) !== recordedNames) {
    const referenceNames = [...reference.tensors.keys()];
    const recordedCount = typeof config?.['param_count'] === 'number' ? ` (it lists ${config['param_count']} tensors)` : '';
    const base = `config.json's parameter_names_hash does not match the ${held.length} tensors the weights hold${recordedCount}: `
      + 'the weights were truncated or edited after the config was written';
    if (parameterNamesHash(referenceNames.map((name) => ({ name, dtype: '', shape: [] }))) !== recordedNames) return problem(base);
    const missing = referenceNames.filter((name) => !residual.tensors.has(name));
    const extra = held.map((tensor) => tensor.name).filter((name) => !reference.tensors.has(name));
    return problem(`${base}; it was written for the tensors of ${reference.root}, so the weights lack ${listNames(missing)}`
      + (extra.length > 0 ? ` and hold ${listNames(extra)} besides` : ''));
  }
  if (shapesHash(held) !== recordedShapes) {
    const base = 'config.json\'s shapes_hash does not match the shapes of the tensors the weights hold: '
      + 'the weights were edited after the config was written';
    const recordedShape = (tensor: ResidualTensorShape): ResidualTensorShape => ({ ...tensor, shape: reference.tensors.get(tensor.name)?.shape ?? tensor.shape });
    if (shapesHash(held.map(recordedShape)) !== recordedShapes) return problem(base);
    const changed = held.filter((tensor) => recordedShape(tensor).shape.join(',') !== tensor.shape.join(','));
    return problem(`${base}; the shapes it was written for are those of ${reference.root}, which differ in ${listNames(changed.map((tensor) => tensor.name))}`);
  }
  return [];
}

function listNames(names: readonly string[]): string {
  if (names.length === 0) return 'no tensor';
  return formatFirstOf(names.map((name) => JSON.stringify(name)), LISTED);
}
