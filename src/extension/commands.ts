/**
 * The commands. Each takes ONE argument object and returns the same result object as the CLI's
 * `--json`, so tests and other extensions call them without prompts; called without arguments
 * (from the palette) they ask for what is missing.
 */
import * as vscode from 'vscode';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { formatCount } from '../shared/quantities';
import type {
  ApplyResult, CardResult, ComputeResult, DiffResult, InspectResult, ResidualDtype, VerifyResult,
} from '../shared/jobs';
import type { CheckpointFinder } from './checkpoint-finder';
import type { SurgeonConfig } from './config';
import { showJobError } from './job-errors';
import type { JobService } from './job-service';
import { openModelCard } from './model-card';
import { pickCheckpoint, pickOutputFolder, pickScale } from './pickers';
import { ReportPanel } from './report-panel';
import type { ReportStore } from './report-store';
import { SAFETENSORS_INDEX_VIEW_TYPE, SAFETENSORS_VIEW_TYPE } from './safetensors-editor';
import { requireTrust } from './workspace-trust';

export interface CommandContext {
  jobs: JobService;
  finder: CheckpointFinder;
  config: SurgeonConfig;
  reports: ReportStore;
  log: vscode.LogOutputChannel;
}

export interface ComputeArgs { base?: string; instruct?: string; out?: string; dtype?: ResidualDtype }
export interface ApplyArgs { base?: string; residual?: string; out?: string; scale?: number; include?: string; exclude?: string }
/** `spectra` overrides the checkpointSurgeon.diff.spectra setting for this call. */
export interface CompareArgs { a?: string; b?: string; select?: string; spectra?: boolean }
export interface InspectArgs { path?: string }
export interface VerifyArgs { base?: string; residual?: string; instruct?: string }
export interface CardArgs { dir?: string }

/** Thrown when the user dismisses a prompt; the command then returns undefined quietly. */
class Dismissed extends Error {}

function required<T>(value: T | undefined): T {
  if (value === undefined) throw new Dismissed();
  return value;
}

/** Arguments arrive from anywhere (a test, a link, another extension): keep only well-typed fields. */
function argsObject(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !(value instanceof vscode.Uri) ? (value as Record<string, unknown>) : {};
}
function str(args: Record<string, unknown>, key: string): string | undefined {
  const value = args[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
function num(args: Record<string, unknown>, key: string): number | undefined {
  const value = args[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
function bool(args: Record<string, unknown>, key: string): boolean | undefined {
  const value = args[key];
  return typeof value === 'boolean' ? value : undefined;
}

export function isResidualFolder(path: string): boolean {
  try {
    const config = JSON.parse(readFileSync(join(path, 'config.json'), 'utf8')) as Record<string, unknown>;
    return typeof config.residuals_version === 'string';
  } catch {
    return false;
  }
}

export function createCommands(ctx: CommandContext) {
  const { jobs, finder, config, reports, log } = ctx;

  async function computeResidual(raw?: unknown): Promise<ComputeResult | undefined> {
    const args = argsObject(raw);
    requireTrust('Compute Residual');
    const base = str(args, 'base') ?? required(await pickCheckpoint(finder, 'Base checkpoint (theta_base)'));
    const instruct = str(args, 'instruct') ?? required(await pickCheckpoint(finder, 'Instruct checkpoint (theta_instruct)', [base]));
    const out = str(args, 'out') ?? required(await pickOutputFolder('Residual output folder', instruct, `${basename(instruct)}-residual`));
    const dtype = (str(args, 'dtype') as ResidualDtype | undefined) ?? config.residualDtype;
    const title = `Compute residual ${basename(instruct)} − ${basename(base)}`;
    try {
      const result = await jobs.run<ComputeResult>(
        { kind: 'compute', options: { base, instruct, out, dtype, shardSize: config.shardSize } },
        { title, outputFolder: out },
      );
      await reports.save(result.report, title, result.out);
      await openModelCard(result.out);
      void vscode.window.showInformationMessage(`Wrote the residual (${result.tensors} tensors, ${result.dtype}) to ${result.out}.`, 'Open Report').then((choice) => {
        if (choice) ReportPanel.show(result.report, { title, residualPath: result.out });
      });
      return result;
    } catch (error) {
      void showJobError(title, error, log, { a: base, b: instruct });
      throw error;
    }
  }

  async function applyResidual(raw?: unknown): Promise<ApplyResult | undefined> {
    const args = argsObject(raw);
    requireTrust('Apply Residual');
    const residual = str(args, 'residual') ?? required(await pickCheckpoint(finder, 'Residual to apply'));
    const base = str(args, 'base') ?? required(await pickCheckpoint(finder, 'Checkpoint to apply it to (e.g. your continued-pretraining model)', [residual]));
    // A call that names its output is programmatic: it gets the configured scale instead of a prompt.
    const scale = num(args, 'scale') ?? (str(args, 'out') !== undefined ? config.defaultScale : required(await pickScale(config.defaultScale)));
    const out = str(args, 'out') ?? required(await pickOutputFolder('Output folder', base, `${basename(base)}-instruct`));
    const include = str(args, 'include') ?? config.include;
    const exclude = str(args, 'exclude') ?? config.exclude;
    const title = `Apply ${basename(residual)} to ${basename(base)}`;
    try {
      const result = await jobs.run<ApplyResult>(
        { kind: 'apply', options: { base, residual, out, scale, shardSize: config.shardSize, ...(include ? { include } : {}), ...(exclude ? { exclude } : {}) } },
        { title, outputFolder: out },
      );
      await openModelCard(result.out);
      void vscode.window.showInformationMessage(`Wrote ${result.out}: ${result.applied.length} tensors with the residual at scale ${result.scale}, ${result.copiedUnchanged.length} copied.`);
      return result;
    } catch (error) {
      void showJobError(title, error, log, { a: base, b: residual });
      throw error;
    }
  }

  async function compare(raw?: unknown): Promise<DiffResult | undefined> {
    const args = argsObject(raw);
    const a = str(args, 'a') ?? required(await pickCheckpoint(finder, 'First checkpoint (A)'));
    const b = str(args, 'b') ?? required(await pickCheckpoint(finder, 'Second checkpoint (B)', [a]));
    const select = str(args, 'select');
    const spectra = bool(args, 'spectra') ?? config.diffSpectra;
    const title = `Compare ${basename(a)} ↔ ${basename(b)}`;
    let panel: ReportPanel | undefined;
    try {
      const options = { a, b, ...(spectra ? { spectra, spectraRank: config.diffSpectraRank } : {}) };
      const result = await jobs.run<DiffResult>({ kind: 'diff', options }, {
        title,
        onProgress: (progress) => {
          panel ??= ReportPanel.beginLive({ path: a }, { path: b }, progress.tensorsTotal, { title });
          panel.progress(progress);
        },
        onTensors: (tensors) => {
          panel ??= ReportPanel.beginLive({ path: a }, { path: b }, 0, { title });
          panel.addTensors(tensors);
        },
      });
      const residualPath = isResidualFolder(b) ? b : undefined;
      if (panel !== undefined) panel.showReport(result.report);
      else panel = ReportPanel.show(result.report, { title, ...(residualPath ? { residualPath } : {}) });
      if (select !== undefined) panel.selectTensor(select);
      await reports.save(result.report, title);
      return result;
    } catch (error) {
      panel?.fail(error instanceof Error ? error.message : String(error), false);
      void showJobError(title, error, log);
      throw error;
    }
  }

  async function inspect(raw?: unknown): Promise<InspectResult | undefined> {
    const args = argsObject(raw);
    const path = str(args, 'path') ?? required(await pickCheckpoint(finder, 'Checkpoint to inspect'));
    try {
      const result = await jobs.run<InspectResult>({ kind: 'inspect', options: { path } }, { title: `Inspect ${basename(path)}` });
      const viewable = await viewableFile(path);
      if (viewable !== undefined) {
        const viewType = viewable.endsWith('.json') ? SAFETENSORS_INDEX_VIEW_TYPE : SAFETENSORS_VIEW_TYPE;
        await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(viewable), viewType);
      }
      return result;
    } catch (error) {
      void showJobError(`Inspect ${basename(path)}`, error, log);
      throw error;
    }
  }

  async function verify(raw?: unknown): Promise<VerifyResult | undefined> {
    const args = argsObject(raw);
    const base = str(args, 'base') ?? required(await pickCheckpoint(finder, 'Base checkpoint'));
    const residual = str(args, 'residual') ?? required(await pickCheckpoint(finder, 'Residual', [base]));
    const instruct = str(args, 'instruct') ?? required(await pickCheckpoint(finder, 'Instruct checkpoint (expected result)', [base, residual]));
    const title = `Verify ${basename(residual)}`;
    try {
      const result = await jobs.run<VerifyResult>({ kind: 'verify', options: { base, residual, instruct } }, { title });
      const signedZeros = result.signedZeroOnly > 0 ? ` (${formatCount(result.signedZeroOnly)} more differ only in the sign of zero)` : '';
      const counts = `${formatCount(result.identical)} of ${formatCount(result.elements)} elements bit-identical${signedZeros}, max abs error ${result.maxAbsError}.`;
      // The warnings say why, e.g. a residual too narrow to be exact and the --dtype that would be: read before the counts.
      const why = result.issues.filter((issue) => issue.severity === 'warning').map((issue) => (issue.message.endsWith('.') ? issue.message : `${issue.message}.`));
      void (result.ok
        ? vscode.window.showInformationMessage(`${title}: ${counts}`)
        : vscode.window.showWarningMessage(`${title}: ${[...why, counts].join(' ')}`));
      return result;
    } catch (error) {
      void showJobError(title, error, log, { a: base, b: instruct });
      throw error;
    }
  }

  async function writeModelCard(raw?: unknown): Promise<CardResult | undefined> {
    const args = argsObject(raw);
    requireTrust('Write Model Card');
    const dir = str(args, 'dir') ?? required(await pickCheckpoint(finder, 'Residual or model folder to write README.md into'));
    const title = `Write model card for ${basename(dir)}`;
    try {
      const result = await jobs.run<CardResult>({ kind: 'card', options: { dir } }, { title });
      await openModelCard(dir);
      return result;
    } catch (error) {
      void showJobError(title, error, log);
      throw error;
    }
  }

  async function openReport(raw?: unknown): Promise<boolean> {
    const id = str(argsObject(raw), 'id');
    const entry = reports.entries().find((e) => e.id === id);
    const report = id === undefined ? undefined : await reports.load(id);
    if (entry === undefined || report === undefined) {
      void vscode.window.showWarningMessage('That report is no longer stored; run Compare again.');
      return false;
    }
    ReportPanel.show(report, { title: entry.title, ...(entry.residual ? { residualPath: entry.residual } : {}) });
    return true;
  }

  // Explorer context menus: VS Code passes the clicked resource and the whole selection.
  const explorer = {
    computeAsBase: (uri: vscode.Uri) => computeResidual({ base: uri.fsPath }),
    computeAsInstruct: (uri: vscode.Uri) => computeResidual({ instruct: uri.fsPath }),
    applyTo: (uri: vscode.Uri) => (isResidualFolder(uri.fsPath) ? applyResidual({ residual: uri.fsPath }) : applyResidual({ base: uri.fsPath })),
    compareWith: (uri: vscode.Uri) => compare({ a: uri.fsPath }),
    inspect: (uri: vscode.Uri) => inspect({ path: uri.fsPath }),
    compareSelected: async (uri: vscode.Uri, selection?: vscode.Uri[]) => {
      const [a, b] = twoSelected(uri, selection);
      return compare({ a, b });
    },
    computeSelected: async (uri: vscode.Uri, selection?: vscode.Uri[]) => {
      const [first, second] = twoSelected(uri, selection);
      const picked = await vscode.window.showQuickPick([
        { label: basename(first), description: 'is the base', base: first, instruct: second },
        { label: basename(second), description: 'is the base', base: second, instruct: first },
      ], { title: 'Checkpoint Surgeon: which one is the base?' });
      return picked === undefined ? undefined : computeResidual({ base: picked.base, instruct: picked.instruct });
    },
  };

  const commands: Record<string, (...args: never[]) => Promise<unknown>> = {
    'checkpointSurgeon.computeResidual': computeResidual,
    'checkpointSurgeon.applyResidual': applyResidual,
    'checkpointSurgeon.compare': compare,
    'checkpointSurgeon.inspect': inspect,
    'checkpointSurgeon.verify': verify,
    'checkpointSurgeon.writeModelCard': writeModelCard,
    'checkpointSurgeon.openReport': openReport,
    'checkpointSurgeon.cancelJob': async () => jobs.cancelRunning(),
    'checkpointSurgeon.showLog': async () => log.show(),
    'checkpointSurgeon.explorer.computeAsBase': explorer.computeAsBase,
    'checkpointSurgeon.explorer.computeAsInstruct': explorer.computeAsInstruct,
    'checkpointSurgeon.explorer.applyTo': explorer.applyTo,
    'checkpointSurgeon.explorer.compareWith': explorer.compareWith,
    'checkpointSurgeon.explorer.inspect': explorer.inspect,
    'checkpointSurgeon.explorer.compareSelected': explorer.compareSelected,
    'checkpointSurgeon.explorer.computeSelected': explorer.computeSelected,
  };
  return commands;
}

/** Wraps a command so a dismissed prompt ends it quietly and a refusal is shown once. */
export function registerCommands(commands: Record<string, (...args: never[]) => Promise<unknown>>): vscode.Disposable[] {
  return Object.entries(commands).map(([id, run]) => vscode.commands.registerCommand(id, async (...args: unknown[]) => {
    try {
      return await (run as (...a: unknown[]) => Promise<unknown>)(...args);
    } catch (error) {
      if (error instanceof Dismissed) return undefined;
      if (error instanceof Error && error.name === 'UntrustedWorkspaceError') void vscode.window.showWarningMessage(error.message);
      throw error;
    }
  }));
}

function twoSelected(uri: vscode.Uri, selection: vscode.Uri[] | undefined): [string, string] {
  const paths = [...new Set((selection ?? [uri]).map((u) => u.fsPath))];
  if (paths.length !== 2 || paths[0] === undefined || paths[1] === undefined) {
    throw new Error('Select exactly two checkpoints in the Explorer.');
  }
  return [paths[0], paths[1]];
}

/** The file the safetensors viewer opens for a checkpoint path (the index, or the first weights file). */
async function viewableFile(path: string): Promise<string | undefined> {
  if (!existsSync(path)) return undefined;
  if (!statSync(path).isDirectory()) return /\.safetensors(\.index\.json)?$/.test(path) ? path : undefined;
  const names = (await readdir(path)).sort();
  const pick = names.find((n) => n.endsWith('.safetensors.index.json')) ?? names.find((n) => n === 'model.safetensors') ?? names.find((n) => n.endsWith('.safetensors'));
  return pick === undefined ? undefined : join(path, pick);
}
