/**
 * The commands, as factories of the `CommandContext` (command-runner.ts; main.ts registers the
 * record). Each takes ONE argument object (parsed by command-args.ts) and resolves to the same
 * result object as the CLI's `--json`, so tests and other extensions call them without prompts;
 * called without arguments (from the palette) they ask for what is missing. A refusal, a failure or
 * a cancel is shown once and resolves to undefined (runJobCommand).
 */
import * as vscode from 'vscode';
import { basename } from 'node:path';
import { isResidualFolder, primaryWeightsFile } from '../engine/checkpoint/checkpoint-kind';
import type { ComputeOptions, ComputeResult } from '../shared/jobs';
import {
  parseApplyArgs, parseCardArgs, parseCompareArgs, parseComputeArgs, parseExplorerPair, parseExplorerTarget,
  parseInspectArgs, parseOpenReportArgs, parseVerifyArgs,
} from './command-args';
import { required, runJobCommand, type Cmd, type CommandContext, type JobScope } from './command-runner';
import { JobError } from './job-worker';
import { openModelCard } from './model-card';
import { pickCheckpoint, pickOutputFolder, pickScale } from './pickers';
import { residualProvenance } from './prompt-checks';
import { ReportPanel } from './report-panel';
import { SAFETENSORS_INDEX_VIEW_TYPE, SAFETENSORS_VIEW_TYPE } from './safetensors-editor';
import { verifySummary } from './verify-html';
import { VerifyPanel } from './verify-panel';
import { requireTrust } from './workspace-trust';

export function computeResidual(ctx: CommandContext): Cmd {
  const { finder, config } = ctx;
  return (raw) => runJobCommand(ctx, 'Compute Residual', async (jobs) => {
    requireTrust('Compute Residual');
    const args = parseComputeArgs(raw);
    const base = args.base ?? required(await pickCheckpoint(finder, 'Base checkpoint (theta_base)', { prefer: 'model' }));
    const instruct = args.instruct ?? required(await pickCheckpoint(finder, 'Instruct checkpoint (theta_instruct)', { exclude: [base], prefer: 'model' }));
    const { out, overwrite } = args.out !== undefined ? { out: args.out, overwrite: false }
      : required(await pickOutputFolder('Residual output folder', instruct, `${basename(instruct)}-residual`, { base, instruct }));
    const dtype = args.dtype ?? config.residualDtype;
    return runCompute(ctx, jobs, { base, instruct, out, dtype, shardSize: config.shardSize, ...(overwrite ? { overwrite } : {}) });
  });
}

/**
 * Compute once its arguments are known (picked or given). A refusal's problems tab gets a Retry that
 * runs this again with the same arguments, prompts and all left out, once the user fixed the cause.
 */
async function runCompute(ctx: CommandContext, jobs: JobScope, options: ComputeOptions): Promise<ComputeResult> {
  const { reports } = ctx;
  const { base, instruct } = options;
  const title = `Compute residual ${basename(instruct)} − ${basename(base)}`;
  const retry = (): Promise<ComputeResult | undefined> => runJobCommand(ctx, 'Compute Residual', async (again) => {
    requireTrust('Compute Residual');
    return runCompute(ctx, again, options);
  });
  const result = await jobs.run('compute', options, { title, outputFolder: options.out, problem: { a: base, b: instruct }, retry });
  knowNewCheckpoint(ctx);
  await reports.save(result.report, title, result.out);
  await openModelCard(result.out);
  void vscode.window.showInformationMessage(`Wrote the residual (${result.tensors} tensors, ${result.dtype}) to ${result.out}.`, 'Open Report').then((choice) => {
    if (choice) ReportPanel.show(result.report, { title, residualPath: result.out });
  });
  return result;
}

/**
 * A job committed a checkpoint folder (renamed into place from its temporary folder, which the file
 * watcher does not see as new weights): the pickers, the Explorer menus and the Checkpoints view learn
 * of it now rather than at the next unrelated change.
 */
export function knowNewCheckpoint(ctx: CommandContext): void {
  ctx.finder.rescan().catch((error: unknown) => ctx.log.warn(`Could not search the workspace for checkpoints: ${error instanceof Error ? error.message : String(error)}`));
}

export function applyResidual(ctx: CommandContext): Cmd {
  const { finder, config } = ctx;
  return (raw) => runJobCommand(ctx, 'Apply Residual', async (jobs) => {
    requireTrust('Apply Residual');
    const args = parseApplyArgs(raw);
    const residual = args.residual ?? required(await pickCheckpoint(finder, 'Residual to apply', { prefer: 'residual' }));
    const base = args.base ?? required(await pickCheckpoint(finder, 'Checkpoint to apply it to (e.g. your continued-pretraining model)', { exclude: [residual], prefer: 'model' }));
    // A call that names its output is programmatic: it gets the configured scale instead of a prompt.
    const scale = args.scale ?? (args.out !== undefined ? config.defaultScale : required(await pickScale(config.defaultScale)));
    const { out, overwrite } = args.out !== undefined ? { out: args.out, overwrite: false }
      : required(await pickOutputFolder('Output folder', base, `${basename(base)}-instruct`, { base, residual }));
    const include = args.include ?? config.include;
    const exclude = args.exclude ?? config.exclude;
    const title = `Apply ${basename(residual)} to ${basename(base)}`;
    const result = await jobs.run('apply', {
      base, residual, out, scale, shardSize: config.shardSize, ...(overwrite ? { overwrite } : {}), ...(include ? { include } : {}), ...(exclude ? { exclude } : {}),
    }, { title, outputFolder: out, problem: { a: base, b: residual } });
    knowNewCheckpoint(ctx);
    await openModelCard(result.out);
    void vscode.window.showInformationMessage(`Wrote ${result.out}: ${result.applied.length} tensors with the residual at scale ${result.scale}, ${result.copiedUnchanged.length} copied.`);
    return result;
  });
}

export function compare(ctx: CommandContext): Cmd {
  const { finder, config, reports } = ctx;
  return (raw) => runJobCommand(ctx, 'Compare', async (jobs) => {
    const args = parseCompareArgs(raw);
    const a = args.a ?? required(await pickCheckpoint(finder, 'First checkpoint (A)'));
    const b = args.b ?? required(await pickCheckpoint(finder, 'Second checkpoint (B)', { exclude: [a] }));
    const spectra = args.spectra ?? config.diffSpectra;
    const title = `Compare ${basename(a)} ↔ ${basename(b)}`;
    let panel: ReportPanel | undefined;
    const options = { a, b, ...(spectra ? { spectra, spectraRank: config.diffSpectraRank } : {}) };
    const result = await jobs.run('diff', options, {
      title,
      onProgress: (progress) => {
        panel ??= ReportPanel.beginLive({ path: a }, { path: b }, progress.tensorsTotal, { title });
        panel.progress(progress);
      },
      onTensors: (tensors) => {
        panel ??= ReportPanel.beginLive({ path: a }, { path: b }, 0, { title });
        panel.addTensors(tensors);
      },
    }).catch((error: unknown) => {
      // The live panel says why it stopped; the notification is runJobCommand's.
      panel?.fail(error instanceof Error ? error.message : String(error), error instanceof JobError && error.cancelled);
      throw error;
    });
    const residualPath = (await isResidualFolder(b)) ? b : undefined;
    if (panel !== undefined) panel.showReport(result.report);
    else panel = ReportPanel.show(result.report, { title, ...(residualPath ? { residualPath } : {}) });
    if (args.select !== undefined) panel.selectTensor(args.select);
    await reports.save(result.report, title);
    return result;
  });
}

export function inspect(ctx: CommandContext): Cmd {
  return (raw) => runJobCommand(ctx, 'Inspect', async (jobs) => {
    const path = parseInspectArgs(raw).path ?? required(await pickCheckpoint(ctx.finder, 'Checkpoint to inspect'));
    const result = await jobs.run('inspect', { path }, { title: `Inspect ${basename(path)}` });
    const viewable = await primaryWeightsFile(path);
    if (viewable !== undefined) {
      const viewType = viewable.endsWith('.json') ? SAFETENSORS_INDEX_VIEW_TYPE : SAFETENSORS_VIEW_TYPE;
      await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(viewable), viewType);
    }
    return result;
  });
}

/**
 * Verify opens its result view (per-tensor counts, and why a mismatch happens). The residual is asked
 * for first; its provenance.json (compute writes base.path and instruct.path) suggests the other two.
 */
export function verify(ctx: CommandContext): Cmd {
  const { finder } = ctx;
  return (raw) => runJobCommand(ctx, 'Verify', async (jobs) => {
    const args = parseVerifyArgs(raw);
    const residual = args.residual ?? required(await pickCheckpoint(finder, 'Residual', { exclude: [args.base, args.instruct].filter((p) => p !== undefined), prefer: 'residual' }));
    const from = await residualProvenance(residual);
    const why = `from ${basename(residual)}/provenance.json`;
    const base = args.base ?? required(await pickCheckpoint(finder, 'Base checkpoint', {
      exclude: [residual], prefer: 'model', ...(from.base !== undefined ? { suggested: { path: from.base, why } } : {}),
    }));
    const instruct = args.instruct ?? required(await pickCheckpoint(finder, 'Instruct checkpoint (expected result)', {
      exclude: [base, residual], prefer: 'model', ...(from.instruct !== undefined ? { suggested: { path: from.instruct, why } } : {}),
    }));
    const title = `Verify ${basename(residual)}`;
    const result = await jobs.run('verify', { base, residual, instruct }, { title, problem: { a: base, b: instruct } });
    VerifyPanel.show(result, { base, residual, instruct });
    void (result.ok
      ? vscode.window.showInformationMessage(`${title}: ${verifySummary(result)}`)
      : vscode.window.showWarningMessage(`${title}: base + residual does not reproduce the instruct checkpoint; the Verify view says which tensors and why.`));
    return result;
  });
}

export function writeModelCard(ctx: CommandContext): Cmd {
  return (raw) => runJobCommand(ctx, 'Write Model Card', async (jobs) => {
    requireTrust('Write Model Card');
    const dir = parseCardArgs(raw).dir ?? required(await pickCheckpoint(ctx.finder, 'Residual or model folder to write README.md into', { prefer: 'residual' }));
    const result = await jobs.run('card', { dir }, { title: `Write model card for ${basename(dir)}` });
    await openModelCard(dir);
    return result;
  });
}

/** Opens a stored report (the hover's link); resolves to whether it was still stored. */
export function openReport(ctx: CommandContext): Cmd {
  const { reports } = ctx;
  return (raw) => runJobCommand(ctx, 'Open Report', async () => {
    const { id } = parseOpenReportArgs(raw);
    const entry = reports.entries().find((e) => e.id === id);
    const report = id === undefined ? undefined : await reports.load(id);
    if (entry === undefined || report === undefined) {
      void vscode.window.showWarningMessage('That report is no longer stored; run Compare again.');
      return false;
    }
    ReportPanel.show(report, { title: entry.title, ...(entry.residual ? { residualPath: entry.residual } : {}) });
    return true;
  });
}

/** Cancels the running heavy job (the status bar item's action); resolves to whether one ran. */
export function cancelJob(ctx: CommandContext): Cmd {
  return async () => ctx.jobs.cancelRunning();
}

export function showLog(ctx: CommandContext): Cmd {
  return async () => ctx.log.show();
}

// Explorer context menus: VS Code passes the clicked resource and the whole selection.

export function explorerComputeAsBase(ctx: CommandContext): Cmd {
  const run = computeResidual(ctx);
  return (uri) => runJobCommand(ctx, 'Compute Residual', async () => run({ base: parseExplorerTarget('Compute Residual', uri) }));
}

export function explorerComputeAsInstruct(ctx: CommandContext): Cmd {
  const run = computeResidual(ctx);
  return (uri) => runJobCommand(ctx, 'Compute Residual', async () => run({ instruct: parseExplorerTarget('Compute Residual', uri) }));
}

/** A residual folder is applied (to a checkpoint picked next); anything else is what a residual is applied to. */
export function explorerApplyTo(ctx: CommandContext): Cmd {
  const run = applyResidual(ctx);
  return (uri) => runJobCommand(ctx, 'Apply Residual', async () => {
    const path = parseExplorerTarget('Apply Residual', uri);
    return run((await isResidualFolder(path)) ? { residual: path } : { base: path });
  });
}

export function explorerCompareWith(ctx: CommandContext): Cmd {
  const run = compare(ctx);
  return (uri) => runJobCommand(ctx, 'Compare', async () => run({ a: parseExplorerTarget('Compare', uri) }));
}

export function explorerInspect(ctx: CommandContext): Cmd {
  const run = inspect(ctx);
  return (uri) => runJobCommand(ctx, 'Inspect', async () => run({ path: parseExplorerTarget('Inspect', uri) }));
}

export function explorerCompareSelected(ctx: CommandContext): Cmd {
  const run = compare(ctx);
  return (uri, selection) => runJobCommand(ctx, 'Compare Selected', async () => {
    const [a, b] = parseExplorerPair('Compare Selected', uri, selection);
    return run({ a, b });
  });
}

export function explorerComputeSelected(ctx: CommandContext): Cmd {
  const run = computeResidual(ctx);
  return (uri, selection) => runJobCommand(ctx, 'Compute Residual', async () => {
    const [first, second] = parseExplorerPair('Compute Residual of Selected', uri, selection);
    const picked = required(await vscode.window.showQuickPick([
      { label: basename(first), description: 'is the base', base: first, instruct: second },
      { label: basename(second), description: 'is the base', base: second, instruct: first },
    ], { title: 'Checkpoint Surgeon: which one is the base?' }));
    return run({ base: picked.base, instruct: picked.instruct });
  });
}
