import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { SurgeonError } from '../errors';
import { renderModelCard, type ModelCardInput } from '../report/model-card';
import type { CardOptions, CardResult } from '../../shared/jobs';
import type { CheckpointRef, DiffReport } from '../../shared/report';
import { PROVENANCE_FILE, type Provenance, type ProvenanceSide } from '../io/provenance-file';
import { REPORT_FILE } from './compute';

/** Writes README.md again for a folder that compute or apply made, from its provenance and report. */
export async function runCard(options: CardOptions): Promise<CardResult> {
  const dir = resolve(options.dir);
  const provenance = await readJsonFile<Provenance>(join(dir, PROVENANCE_FILE), true);
  if (provenance.operation !== 'compute' && provenance.operation !== 'apply') {
    throw new SurgeonError('usage', `${PROVENANCE_FILE} names no compute or apply operation`, join(dir, PROVENANCE_FILE));
  }
  const report = await readJsonFile<DiffReport>(join(dir, REPORT_FILE), false);
  const residual = provenance.operation === 'compute';
  const input: ModelCardInput = {
    kind: residual ? 'residual' : 'applied',
    title: basename(dir),
    output: { path: dir },
    base: refOf(provenance.base, dir),
    ...(provenance.instruct ? { instruct: refOf(provenance.instruct, dir) } : {}),
    ...(provenance.residual ? { residual: refOf(provenance.residual, dir) } : {}),
    scale: provenance.scale ?? 1,
    dtype: provenance.dtype,
    createdAt: new Date(provenance.createdAt),
    provenance: {
      base: provenance.base.files,
      ...(provenance.instruct ? { instruct: provenance.instruct.files } : {}),
      ...(provenance.residual ? { residual: provenance.residual.files } : {}),
    },
    summary: report?.summary ?? null,
    tokenizer: report?.tokenizer ?? null,
    ...(residual && report?.quantization ? { quantization: report.quantization } : {}),
  };
  const path = join(dir, 'README.md');
  await writeFile(path, renderModelCard(input));
  return { kind: 'card', path };
}

/**
 * The card's reference to a side. Folders written before provenance recorded absolute paths hold the path as typed,
 * relative to a working folder nobody remembers: those are taken relative to the output's parent, where users keep
 * their models beside their outputs.
 */
function refOf(side: ProvenanceSide, dir: string): CheckpointRef {
  return { path: isAbsolute(side.path) ? side.path : resolve(dirname(dir), side.path), ...(side.hubId ? { hubId: side.hubId } : {}) };
}

async function readJsonFile<T>(path: string, required: true): Promise<T>;
async function readJsonFile<T>(path: string, required: false): Promise<T | undefined>;
async function readJsonFile<T>(path: string, required: boolean): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SurgeonError('io', `cannot read ${basename(path)}: a model card is written for folders made by compute or apply`, path);
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new SurgeonError('invalid-json', `not valid JSON: ${(error as Error).message}`, path);
  }
}
