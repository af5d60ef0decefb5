import { join } from 'node:path';
import type { Checkpoint } from '../checkpoint/checkpoint-types';
import { GENERATION_CONFIG_FILE_NAME, TOKENIZER_SIDE_FILES } from '../checkpoint/side-files';
import type { PlanIssue } from '../../shared/jobs';

export interface SideFileCopy {
  name: string;
  from: string;
}

/**
 * The side files of an applied model. The tokenizer comes as one set from one source, the residual's when
 * it holds one (the instruct model's, with its chat tokens), else the target's: files taken one by one
 * from both would make a tokenizer that neither model had. generation_config.json comes from the residual,
 * else from the target with a warning, since base and instruct models often stop on different tokens.
 */
export function outputSideFiles(target: Checkpoint, residual: Checkpoint): { copies: SideFileCopy[]; issues: PlanIssue[] } {
  const folderFiles = (checkpoint: Checkpoint): string[] => (checkpoint.layout === 'file' ? [] : checkpoint.sideFiles);
  const holdsTokenizer = (checkpoint: Checkpoint): boolean => folderFiles(checkpoint).some((name) => TOKENIZER_SIDE_FILES.includes(name));
  const tokenizerSource = holdsTokenizer(residual) ? residual : holdsTokenizer(target) ? target : undefined;
  const copies: SideFileCopy[] = tokenizerSource === undefined ? [] : folderFiles(tokenizerSource)
    .filter((name) => TOKENIZER_SIDE_FILES.includes(name))
    .map((name) => ({ name, from: join(tokenizerSource.root, name) }));
  const issues: PlanIssue[] = [];
  if (folderFiles(residual).includes(GENERATION_CONFIG_FILE_NAME)) {
    copies.push({ name: GENERATION_CONFIG_FILE_NAME, from: join(residual.root, GENERATION_CONFIG_FILE_NAME) });
  } else if (folderFiles(target).includes(GENERATION_CONFIG_FILE_NAME)) {
    copies.push({ name: GENERATION_CONFIG_FILE_NAME, from: join(target.root, GENERATION_CONFIG_FILE_NAME) });
    issues.push({
      severity: 'warning', rule: 'generation-config', file: target.root,
      message: `the residual has no ${GENERATION_CONFIG_FILE_NAME}, so the target's is copied: base and instruct models often `
        + 'differ in their eos_token_id lists, so check that it stops on the instruct model\'s end-of-turn token',
    });
  }
  return { copies, issues };
}
