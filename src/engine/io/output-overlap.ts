import { readlink, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { CheckpointLayout } from '../checkpoint/checkpoint-types';
import { SurgeonError } from '../errors';

/** What of an input checkpoint an output must stay clear of (a `Checkpoint` is one). */
export interface InputLocation {
  /** The folder holding the weights. */
  root: string;
  layout: CheckpointLayout;
  files: ReadonlyArray<{ path: string }>;
  indexPath?: string;
}

/** The job's inputs by the role that names them in messages: `{ base, instruct }`, `{ base, residual }`. */
export type OutputInputs = Readonly<Record<string, InputLocation>>;

/**
 * Refuses (rule `output-overlaps-input`) an output that is an input, holds one, or lies inside a
 * checkpoint folder, comparing real paths so that symbolic links and `.`/`..` cannot hide it. An
 * output inside the folder of a single .safetensors file input is fine: only the file is the input.
 */
export async function refuseOutputOverlappingInputs(out: string, inputs: OutputInputs): Promise<void> {
  const target = await realPathOfOutput(resolve(out));
  for (const [role, input] of Object.entries(inputs)) {
    const how = await overlap(target, input, role);
    if (how === undefined) continue;
    throw new SurgeonError('output-overlaps-input',
      `the output ${how}; a job never writes over or into its inputs: choose an output folder outside them`, resolve(out));
  }
}

async function overlap(target: string, input: InputLocation, role: string): Promise<string | undefined> {
  const root = await realPathOf(input.root);
  const folderInput = input.layout !== 'file';
  const checkpoint = `the ${role} checkpoint (${input.root})`;
  const rootRelation = relation(target, root);
  if (rootRelation === 'same') return folderInput ? `is ${checkpoint}` : `is the folder of ${checkpoint}`;
  if (rootRelation === 'contains') return `contains ${checkpoint}`;
  const files = [...input.files.map((file) => file.path), ...(input.indexPath === undefined ? [] : [input.indexPath])];
  for (const file of files) {
    // A Hub cache snapshot links each file to a blob elsewhere; the blob is the input too.
    const fileRelation = relation(target, await realPathOf(file));
    if (fileRelation === 'same') return `is ${basename(file)}, a file of ${checkpoint}`;
    if (fileRelation === 'contains') return `contains ${basename(file)}, a file of ${checkpoint}`;
  }
  if (folderInput && rootRelation === 'inside') return `is inside ${checkpoint}`;
  return undefined;
}

function relation(path: string, other: string): 'same' | 'contains' | 'inside' | undefined {
  if (comparable(path) === comparable(other)) return 'same';
  if (isWithin(other, path)) return 'contains';
  if (isWithin(path, other)) return 'inside';
  return undefined;
}

function isWithin(path: string, folder: string): boolean {
  const rel = relative(comparable(folder), comparable(path));
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/** Windows and macOS file systems ignore case by default: there a case-only difference names the same file. */
function comparable(path: string): string {
  return process.platform === 'win32' || process.platform === 'darwin' ? path.toLowerCase() : path;
}

async function realPathOf(path: string): Promise<string> {
  return realpath(path).catch(() => resolve(path));
}

/**
 * The real path the output would have: that of the path itself when it exists, else its nearest
 * existing ancestor's with the rest appended; a dangling symbolic link resolves to where it points.
 */
async function realPathOfOutput(path: string, linksFollowed = 0): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    // Not there, or a link to nowhere (or a loop, which the bound on links ends).
  }
  const link = linksFollowed < 40 ? await readlink(path).catch(() => undefined) : undefined;
  if (link !== undefined) return realPathOfOutput(resolve(dirname(path), link), linksFollowed + 1);
  const parent = dirname(path);
  if (parent === path) return path;
  return join(await realPathOfOutput(parent, linksFollowed), basename(path));
}
