/**
 * provenance.json, the record compute, apply and lora write into every output folder: where the inputs were, their
 * SHA-256, what was computed. It is also how a folder is recognised as an output of this tool (existing-output.ts),
 * where apply finds the family a residual was computed against, and what `card` rewrites a model card from.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileProvenance, OutputFile } from '../../shared/jobs';
import type { CheckpointRef } from '../../shared/report';
import { TOOL_NAME, TOOL_VERSION } from '../version';

export const PROVENANCE_FILE = 'provenance.json';

const OPERATIONS: ReadonlySet<string> = new Set<Provenance['operation']>(['compute', 'apply', 'lora']);

/** An input as recorded: its absolute path, its Hub id when it came from the Hugging Face cache, its files' digests. */
export interface ProvenanceSide extends CheckpointRef {
  files: FileProvenance[];
  /** compute's base: its config.json, so apply can tell a target of another family. */
  config?: Record<string, unknown> | null;
}

export interface Provenance {
  tool: { name: string; version: string };
  createdAt: string;
  operation: 'compute' | 'apply' | 'lora';
  formula: string;
  base: ProvenanceSide;
  /** compute */
  instruct?: ProvenanceSide;
  /** apply, and lora from a residual folder */
  residual?: ProvenanceSide;
  scale?: number;
  include?: string | null;
  exclude?: string | null;
  dtype: string;
  dtypeReason?: string;
  output: OutputFile[];
}

export async function writeProvenance(folder: string, record: Omit<Provenance, 'tool'>): Promise<void> {
  const provenance: Provenance = { tool: { name: TOOL_NAME, version: TOOL_VERSION }, ...record };
  await writeFile(join(folder, PROVENANCE_FILE), `${JSON.stringify(provenance, null, 2)}\n`);
}

/** The provenance of a folder this tool wrote; undefined where there is none, it is unreadable, or another tool wrote it. */
export async function readProvenance(folder: string): Promise<Provenance | undefined> {
  try {
    const provenance = JSON.parse(await readFile(join(folder, PROVENANCE_FILE), 'utf8')) as Partial<Provenance> | null;
    const ours = provenance?.tool?.name === TOOL_NAME && OPERATIONS.has(provenance.operation as string);
    return ours ? provenance as Provenance : undefined;
  } catch {
    return undefined;
  }
}
