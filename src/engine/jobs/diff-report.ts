import type { Checkpoint } from '../checkpoint/checkpoint-types';
import { diffConfigs } from '../report/config-diff';
import { diffTokenizers, loadTokenizerFiles, type TokenizerFiles } from '../report/tokenizer-diff';
import type { PlanIssue } from '../../shared/jobs';
import { layerCells as aggregateLayers, summarizeTensors as summarize } from '../../shared/report-summary';
import { REPORT_SCHEMA, type ConfigReport, type DiffReport, type TensorReport, type TokenizerReport } from '../../shared/report';

export interface SideComparison {
  config: ConfigReport | null;
  tokenizer: TokenizerReport | null;
  tokenizerA: TokenizerFiles | null;
  tokenizerB: TokenizerFiles | null;
  issues: PlanIssue[];
}

/** Config and tokenizer comparison of two checkpoints, and the refusal of different families. */
export async function compareSides(a: Checkpoint, b: Checkpoint, force: boolean): Promise<SideComparison> {
  const [tokenizerA, tokenizerB] = await Promise.all([tokenizerFilesOf(a), tokenizerFilesOf(b)]);
  const config = a.config || b.config ? diffConfigs(a.config, b.config) : null;
  const tokenizer = tokenizerA && tokenizerB && (hasTokenizer(tokenizerA) || hasTokenizer(tokenizerB)) ? diffTokenizers(tokenizerA, tokenizerB) : null;
  const issues: PlanIssue[] = [];
  if (config?.verdict === 'incompatible') {
    for (const reason of config.reasons) {
      issues.push({
        severity: force ? 'warning' : 'error',
        rule: 'incompatible-config',
        file: b.root,
        message: `config.json: ${reason}${force ? ' (going on: --force)' : '; a residual only transfers within one model family (use --force to override)'}`,
      });
    }
  }
  return { config, tokenizer, tokenizerA, tokenizerB, issues };
}

export function buildDiffReport(a: string, b: string | undefined, tensors: TensorReport[], sides: Pick<SideComparison, 'config' | 'tokenizer'>): DiffReport {
  return {
    schema: REPORT_SCHEMA,
    a: { path: a },
    ...(b !== undefined ? { b: { path: b } } : { residualOnly: true }),
    tensors,
    layers: aggregateLayers(tensors),
    tokenizer: sides.tokenizer,
    config: sides.config,
    summary: summarize(tensors),
  };
}

async function tokenizerFilesOf(checkpoint: Checkpoint): Promise<TokenizerFiles | null> {
  return checkpoint.layout === 'file' ? null : loadTokenizerFiles(checkpoint.root);
}

function hasTokenizer(files: TokenizerFiles): boolean {
  return files.tokenizer !== null || files.tokenizerConfig !== null || files.specialTokensMap !== null;
}
