/**
 * Export as LoRA Adapter: a residual (a residual folder, or base and instruct) factored into a PEFT LoRA adapter
 * on the worker, at the ranks the user picks, then the adapter's result view (lora-panel.ts). Called with its
 * output folder it asks for nothing; the report's energy-against-rank chart calls it with the report's inputs and
 * the rank picked there, so only the output folder is asked for.
 */
import * as vscode from 'vscode';
import { basename } from 'node:path';
import { isResidualFolder } from '../engine/checkpoint/checkpoint-kind';
import { DEFAULT_LORA_MAX_RANK, DEFAULT_LORA_RANK } from '../shared/defaults';
import type { LoraOptions, LoraRankChoice, LoraResult } from '../shared/jobs';
import { formatBytes, formatPercent } from '../shared/quantities';
import { parseLoraArgs, type LoraArgs } from './command-args';
import { required, runJobCommand, type Cmd, type CommandContext, type JobScope } from './command-runner';
import { knowNewCheckpoint } from './commands';
import { JobError } from './job-worker';
import type { LoraInputs } from './lora-inputs';
import { LoraPanel } from './lora-panel';
import { customRankProblem, describeRanks, loraFolderName, rankChoiceItems, type RankChoiceItem } from './lora-rank-choices';
import { pickCheckpoint, pickOutputFolder } from './pickers';
import { requireTrust } from './workspace-trust';

const COMMAND = 'Export as LoRA Adapter';

/** Where the adapter goes and at which ranks. */
type LoraOutput = Pick<LoraOptions, 'out' | 'overwrite' | 'force'> & { ranks: LoraRankChoice };

export function exportLora(ctx: CommandContext): Cmd {
  return (raw) => runJobCommand(ctx, COMMAND, async (jobs) => {
    requireTrust(COMMAND);
    const args = parseLoraArgs(raw);
    const inputs = await pickInputs(ctx, args);
    // A call that names its output is programmatic: without ranks it gets the default instead of a prompt.
    const ranks = givenRanks(args) ?? (args.out !== undefined ? { rank: DEFAULT_LORA_RANK } : required(await pickRanks()));
    const source = 'residual' in inputs ? inputs.residual : inputs.instruct;
    const { out, overwrite } = args.out !== undefined ? { out: args.out, overwrite: false }
      : required(await pickOutputFolder('LoRA adapter output folder', source, loraFolderName(basename(source), ranks), inputs));
    return runExport(ctx, jobs, inputs, { out, ranks, ...(overwrite ? { overwrite } : {}) }, args.out === undefined);
  });
}

/**
 * The export once its arguments are known (picked or given). A refusal's problems tab gets a Retry that runs this
 * again with the same arguments, prompts left out, once the user fixed the cause.
 */
async function runExport(ctx: CommandContext, jobs: JobScope, inputs: LoraInputs, output: LoraOutput, interactive = false): Promise<LoraResult> {
  const options: LoraOptions = { ...inputs, ...output };
  const source = 'residual' in inputs ? inputs.residual : inputs.instruct;
  const title = `Export ${basename(source)} as a LoRA adapter (${describeRanks(output.ranks)})`;
  const retry = (): Promise<LoraResult | undefined> => runJobCommand(ctx, COMMAND, async (again) => {
    requireTrust(COMMAND);
    return runExport(ctx, again, inputs, output);
  });
  let result: LoraResult;
  try {
    result = await jobs.run('lora', options, {
      title, outputFolder: options.out, retry, ...('residual' in inputs ? {} : { problem: { a: inputs.base, b: inputs.instruct } }),
    });
  } catch (error) {
    if (!interactive || output.force || !(await leaveGrownTensorsOut(error))) throw error;
    return runExport(ctx, jobs, inputs, { ...output, force: true });
  }
  knowNewCheckpoint(ctx);
  LoraPanel.show(result, inputs);
  const share = result.fullResidualBytes > 0 ? result.adapterBytes / result.fullResidualBytes : null;
  void vscode.window.showInformationMessage(`Wrote the LoRA adapter (${formatBytes(result.adapterBytes)}, ${formatPercent(share)} of the full residual; `
    + `${formatPercent(result.capturedEnergyShare)} of its energy) to ${result.out}.`);
  return result;
}

/**
 * When the only problem of an export is vocabulary growth (an adapter cannot add token rows), whether the user would
 * rather have an adapter without the grown tensors than none: the CLI's `--force`, asked for in words.
 */
async function leaveGrownTensorsOut(error: unknown): Promise<boolean> {
  if (!(error instanceof JobError)) return false;
  const errors = (error.issues ?? []).filter((issue) => issue.severity === 'error');
  if (errors.length === 0 || errors.some((issue) => issue.rule !== 'vocabulary-growth')) return false;
  const leaveOut = 'Export Without Them';
  const answer = await vscode.window.showWarningMessage(
    `The vocabulary grew: ${errors.map((issue) => issue.tensor).join(' and ')} gained rows. A LoRA adapter cannot add token rows.`,
    {
      modal: true,
      detail: 'Export without the grown tensors (the new tokens then have no embedding in the adapter), or use the full residual '
        + '(Compute Residual, then Apply Residual), which carries them.',
    },
    leaveOut,
  );
  return answer === leaveOut;
}

/**
 * A residual folder, or base and instruct: as given, else picked. A picked checkpoint that is not a residual is
 * taken for the instruct model, and its base is asked for next.
 */
async function pickInputs(ctx: CommandContext, args: LoraArgs): Promise<LoraInputs> {
  const { finder } = ctx;
  if (args.residual !== undefined) return { residual: args.residual };
  let instruct = args.instruct;
  if (instruct === undefined && args.base === undefined) {
    const picked = required(await pickCheckpoint(finder, 'Residual to export (or an instruct model, then its base)', { prefer: 'residual' }));
    if (await isResidualFolder(picked)) return { residual: picked };
    instruct = picked;
  }
  instruct ??= required(await pickCheckpoint(finder, 'Instruct checkpoint (theta_instruct)', { exclude: args.base === undefined ? [] : [args.base], prefer: 'model' }));
  const base = args.base ?? required(await pickCheckpoint(finder, 'Base checkpoint (theta_base)', { exclude: [instruct], prefer: 'model' }));
  return { base, instruct };
}

function givenRanks(args: LoraArgs): LoraRankChoice | undefined {
  if (args.rank !== undefined) return { rank: args.rank };
  if (args.energy !== undefined) return { energy: args.energy, maxRank: DEFAULT_LORA_MAX_RANK };
  return undefined;
}

/** The rank prompt: one rank for every matrix, ranks by energy, or a custom rank checked as it is typed. */
async function pickRanks(): Promise<LoraRankChoice | undefined> {
  const items = rankChoiceItems();
  const quickPick = vscode.window.createQuickPick<RankChoiceItem>();
  quickPick.title = `Checkpoint Surgeon: ${COMMAND}: rank`;
  quickPick.placeholder = 'The rank of each matrix\'s factors: higher carries more of the residual, in a larger adapter';
  quickPick.items = items;
  quickPick.activeItems = items.filter((item) => item.isDefault);
  quickPick.ignoreFocusOut = true;
  const picked = await new Promise<RankChoiceItem | undefined>((resolve) => {
    quickPick.onDidAccept(() => {
      resolve(quickPick.selectedItems[0]);
      quickPick.hide();
    });
    quickPick.onDidHide(() => resolve(undefined));
    quickPick.show();
  });
  quickPick.dispose();
  if (picked === undefined) return undefined;
  if (picked.ranks !== 'custom') return picked.ranks;
  const typed = await vscode.window.showInputBox({
    title: `Checkpoint Surgeon: ${COMMAND}: custom rank`,
    prompt: 'One rank for every matrix (a matrix smaller than it keeps its own full rank)',
    value: String(DEFAULT_LORA_RANK),
    ignoreFocusOut: true,
    validateInput: customRankProblem,
  });
  return typed === undefined ? undefined : { rank: Number(typed.trim()) };
}
