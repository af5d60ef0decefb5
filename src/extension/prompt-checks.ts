/**
 * The checks behind the extension's prompts, apart from `vscode` so they are unit-tested in Node:
 * the scale (alpha) prompt, the output-folder prompt (the engine's own checks of an existing output
 * and of an output that overlaps an input, run as the user types), the order of the checkpoint
 * picker, and the wording of verify's advice in the editor (a setting, where the CLI names a flag).
 */
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { examineExistingOutput } from '../engine/io/existing-output';
import { readProvenance } from '../engine/io/provenance-file';
import { refuseOutputOverlappingInputs, type InputLocation } from '../engine/io/output-overlap';

/** Beyond this |alpha| a scale is a typo, not a blend: the residual's weight is usually between 0 and 2. */
const MAX_ABS_SCALE = 1e3;
/** The largest finite binary32: a scale beyond it turns every scaled element into an infinity. */
const MAX_FLOAT32 = 3.4028234663852886e38;

/** Why a typed scale is refused, or undefined when it is a usable one. */
export function scaleProblem(text: string): string | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return 'Enter a number, e.g. 1 or 0.5.';
  const value = Number(trimmed);
  if (Number.isNaN(value)) return `"${trimmed}" is not a number; enter one, e.g. 1 or 0.5.`;
  const usually = "the residual's weight alpha is usually between 0 and 2";
  if (!Number.isFinite(value)) return `The scale must be finite, not ${value}: ${usually}.`;
  if (Math.abs(value) > MAX_FLOAT32) return `${trimmed} is beyond binary32 (±3.4e38): every scaled element would be infinite; ${usually}.`;
  if (Math.abs(value) > MAX_ABS_SCALE) return `${trimmed} is absurd as a scale (|alpha| > ${MAX_ABS_SCALE}): ${usually}.`;
  return undefined;
}

/** What the output prompt says of a typed path: refused (error), or replaced when confirmed (replace). */
export type OutputCheck = { kind: 'ok' } | { kind: 'error'; message: string } | { kind: 'replace'; message: string; operation: string };

/**
 * The engine's checks of an output path, as the user types it: it must not be or lie inside (or hold)
 * an input, and an existing path must be empty or an earlier output of this tool, which the job then
 * replaces (with overwrite, after the user confirms).
 */
export async function checkOutputFolder(text: string, inputs: Readonly<Record<string, string>>): Promise<OutputCheck> {
  const out = text.trim();
  if (out === '') return { kind: 'error', message: 'Enter a folder path.' };
  const target = resolve(out);
  try {
    await refuseOutputOverlappingInputs(target, Object.fromEntries(await Promise.all(
      Object.entries(inputs).map(async ([role, path]) => [role, await inputLocation(path)] as const))));
  } catch (error) {
    return { kind: 'error', message: `The output ${overlapWording(error)}` };
  }
  let existing: Awaited<ReturnType<typeof examineExistingOutput>>;
  try {
    existing = await examineExistingOutput(target);
  } catch (error) {
    return { kind: 'error', message: error instanceof Error ? error.message : String(error) };
  }
  switch (existing.kind) {
    case 'absent':
    case 'empty-folder':
      return { kind: 'ok' };
    case 'ours':
      return { kind: 'replace', operation: existing.operation, message: `Exists: an earlier ${existing.operation} output of Checkpoint Surgeon. It will be replaced (you will be asked to confirm).` };
    case 'not-ours':
      return { kind: 'error', message: `Exists and is not an output of Checkpoint Surgeon: it ${existing.what}. Choose another path.` };
  }
}

/** An input path as the overlap check sees it: a folder is a checkpoint folder, a file stands alone. */
async function inputLocation(path: string): Promise<InputLocation> {
  const isFolder = await stat(path).then((s) => s.isDirectory(), () => true);
  return isFolder ? { root: path, layout: 'single', files: [] } : { root: dirname(path), layout: 'file', files: [{ path }] };
}

/** The refusal's detail without its rule and path: "is inside the base checkpoint (...)". */
function overlapWording(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const detail = (error as { detail?: unknown }).detail;
  const text = typeof detail === 'string' ? detail : message;
  return text.replace(/^the output /, '').replace(/; a job never writes.*$/, '; choose a folder outside the inputs.');
}

/** Which checkpoints a picker lists first: residual folders (to apply, to verify) or models. */
export type PickPreference = 'residual' | 'model';

/** The paths in the order a picker lists them: the preferred kind first, each kind in its own order. */
export function orderCheckpoints(paths: readonly string[], residuals: ReadonlySet<string>, prefer: PickPreference | undefined): string[] {
  if (prefer === undefined) return [...paths];
  const wanted = (path: string): boolean => residuals.has(path) === (prefer === 'residual');
  return [...paths.filter(wanted), ...paths.filter((path) => !wanted(path))];
}

/** The setting the editor's residual dtype comes from (the CLI's `--dtype`). */
const RESIDUAL_DTYPE_SETTING = 'checkpointSurgeon.residualDtype';

/** An engine message for the editor: `--dtype X` (the CLI's flag) becomes the setting that chooses it here. */
export function editorAdvice(message: string): string {
  return message.replace(/(?:with )?--dtype ([a-z0-9]+)/g, (_match, dtype: string) => `with the setting ${RESIDUAL_DTYPE_SETTING} set to "${dtype}"`);
}

/** base.path and instruct.path of a residual's provenance.json; nothing where it is missing or unreadable. */
export async function residualProvenance(residual: string): Promise<{ base?: string; instruct?: string }> {
  const provenance = await readProvenance(residual);
  const base = provenance?.base?.path;
  const instruct = provenance?.instruct?.path;
  return { ...(typeof base === 'string' && base !== '' ? { base } : {}), ...(typeof instruct === 'string' && instruct !== '' ? { instruct } : {}) };
}
