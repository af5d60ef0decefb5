import type { Checkpoint } from '../checkpoint/checkpoint-types';
import { formatHubId } from '../hub/hub-id';
import { diffConfigs } from '../report/config-diff';
import { diffTokenizers, loadTokenizerFiles, type TokenizerFiles } from '../report/tokenizer-diff';
import type { PlanIssue } from '../../shared/jobs';
import { layerCells as aggregateLayers, summarizeTensors as summarize } from '../../shared/report-summary';
import { REPORT_SCHEMA, type CheckpointRef, type ConfigReport, type DiffReport, type TensorReport, type TokenizerReport } from '../../shared/report';
import { dequantizedView, reportQuantizations } from './fp8-inputs';

export interface SideComparison {
  config: ConfigReport | null;
  tokenizer: TokenizerReport | null;
  tokenizerA: TokenizerFiles | null;
  tokenizerB: TokenizerFiles | null;
  issues: PlanIssue[];
  /** The checkpoints compared, as the report records them (absolute path, Hub id when from the cache). */
  refs?: { a?: CheckpointRef; b?: CheckpointRef };
  /** The sides whose FP8 weights are read dequantized (docs/fp8.md); absent when neither is FP8. */
  quantization?: DiffReport['quantization'];
}

/**
 * How a report and a model card name a checkpoint: its absolute path (never the spec as typed, which is
 * relative to a working folder the reader does not know), and its Hub id where it came from the cache.
 */
export function checkpointRef(checkpoint: Checkpoint): CheckpointRef {
  return {
    path: checkpoint.source ?? checkpoint.root,
    ...(checkpoint.hub ? { hubId: formatHubId({ repo: checkpoint.hub.repo, ...(checkpoint.hub.revision !== 'main' ? { revision: checkpoint.hub.revision } : {}) }) } : {}),
  };
}

/**
 * Config and tokenizer comparison of two checkpoints, how each stores its weights (FP8 layouts, read dequantized),
 * and the refusal of different families.
 */
export async function compareSides(a: Checkpoint, b: Checkpoint, force: boolean): Promise<SideComparison> {
  const [tokenizerA, tokenizerB] = await Promise.all([tokenizerFilesOf(a), tokenizerFilesOf(b)]);
  const config = a.config || b.config ? diffConfigs(a.config, b.config) : null;
  const tokenizer = tokenizerA && tokenizerB && (hasTokenizer(tokenizerA) || hasTokenizer(tokenizerB)) ? diffTokenizers(tokenizerA, tokenizerB) : null;
  const issues: PlanIssue[] = [];
  if (config?.verdict === 'incompatible') {
    for (const reason of config.refusals ?? config.reasons) {
      issues.push({
        severity: force ? 'warning' : 'error',
        rule: 'incompatible-config',
        file: b.root,
        message: `config.json: ${reason}${force ? ' (going on: --force)' : '; a residual only transfers within one model family (use --force to override)'}`,
      });
    }
  }
  const quantization = reportQuantizations(dequantizedView(a), dequantizedView(b));
  return {
    config, tokenizer, tokenizerA, tokenizerB, issues, refs: { a: checkpointRef(a), b: checkpointRef(b) }, ...(quantization ? { quantization } : {}),
  };
}

/** `a` and `b` are the specs as typed; the checkpoints' refs in `sides` (absolute path, Hub id) take their place where present. */
export function buildDiffReport(
  a: string, b: string | undefined, tensors: TensorReport[], sides: Pick<SideComparison, 'config' | 'tokenizer' | 'refs' | 'quantization'>,
): DiffReport {
  return {
    schema: REPORT_SCHEMA,
    a: sides.refs?.a ?? { path: a },
    ...(b !== undefined ? { b: sides.refs?.b ?? { path: b } } : { residualOnly: true }),
    tensors,
    layers: aggregateLayers(tensors),
    tokenizer: sides.tokenizer,
    config: sides.config,
    summary: summarize(tensors),
    ...(sides.quantization ? { quantization: sides.quantization } : {}),
  };
}

async function tokenizerFilesOf(checkpoint: Checkpoint): Promise<TokenizerFiles | null> {
  return checkpoint.layout === 'file' ? null : loadTokenizerFiles(checkpoint.root);
}

function hasTokenizer(files: TokenizerFiles): boolean {
  return files.tokenizer !== null || files.tokenizerConfig !== null || files.specialTokensMap !== null;
}
