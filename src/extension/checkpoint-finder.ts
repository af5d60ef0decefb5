/**
 * Knows the workspace's checkpoint folders (folders holding `*.safetensors` files or a
 * `*.safetensors.index.json`), kept current by a FileSystemWatcher. The quick picks list them and
 * the Explorer menus use them through the `checkpointSurgeon.checkpointFolders` context key.
 * Nothing is searched at activation: the first `list()` (the Checkpoints view shown, a quick pick)
 * searches the workspace, and file events rescan only once that has happened.
 */
import * as vscode from 'vscode';
import { dirname } from 'node:path';
import { isResidualFolder } from '../engine/checkpoint/checkpoint-kind';

const CHECKPOINT_GLOB = '**/*.{safetensors,safetensors.index.json}';
const EXCLUDE_GLOB = '**/{node_modules,.git}/**';
/** A workspace with more weight files than this is not browsed exhaustively; the picker offers Browse.... */
const MAX_WEIGHT_FILES = 5_000;
/** Bursts of file events (a job writing shards) trigger one rescan. */
const RESCAN_DELAY_MS = 300;
const CHECKPOINT_FOLDERS_CONTEXT = 'checkpointSurgeon.checkpointFolders';
/** The checkpoint folders that hold a residual (their config.json is a residuals config): Verify and Write Model Card. */
const RESIDUAL_FOLDERS_CONTEXT = 'checkpointSurgeon.residualFolders';

export class CheckpointFinder implements vscode.Disposable {
  private folders: string[] = [];
  private residualFolders = new Set<string>();
  private scanning: Promise<string[]> | undefined;
  private rescanTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly changeEmitter = new vscode.EventEmitter<readonly string[]>();
  readonly onDidChange = this.changeEmitter.event;

  constructor() {
    const watcher = vscode.workspace.createFileSystemWatcher(CHECKPOINT_GLOB);
    const schedule = (): void => this.scheduleRescan();
    this.disposables.push(
      watcher, watcher.onDidCreate(schedule), watcher.onDidDelete(schedule),
      vscode.workspace.onDidChangeWorkspaceFolders(schedule), this.changeEmitter,
    );
  }

  /** The checkpoint folders, sorted; scans on first use. */
  async list(): Promise<readonly string[]> {
    return this.scanning ?? this.rescan();
  }

  rescan(): Promise<string[]> {
    const scan = (async () => {
      const files = await vscode.workspace.findFiles(CHECKPOINT_GLOB, EXCLUDE_GLOB, MAX_WEIGHT_FILES);
      const folders = [...new Set(files.filter((uri) => uri.scheme === 'file').map((uri) => dirname(uri.fsPath)))].sort();
      const residual = await Promise.all(folders.map((folder) => isResidualFolder(folder)));
      this.folders = folders;
      this.residualFolders = new Set(folders.filter((_folder, i) => residual[i]));
      await vscode.commands.executeCommand('setContext', CHECKPOINT_FOLDERS_CONTEXT, folders);
      await vscode.commands.executeCommand('setContext', RESIDUAL_FOLDERS_CONTEXT, [...this.residualFolders]);
      this.changeEmitter.fire(folders);
      return folders;
    })();
    this.scanning = scan;
    return scan;
  }

  /** The residual folders among the last scan's, without waiting. */
  get residuals(): ReadonlySet<string> {
    return this.residualFolders;
  }

  /** The folders known from the last scan, without waiting. */
  get current(): readonly string[] {
    return this.folders;
  }

  private scheduleRescan(): void {
    // Before the first search there is nothing to keep current; that search will see the change.
    if (this.scanning === undefined) return;
    clearTimeout(this.rescanTimer);
    this.rescanTimer = setTimeout(() => void this.rescan(), RESCAN_DELAY_MS);
  }

  dispose(): void {
    clearTimeout(this.rescanTimer);
    for (const disposable of this.disposables) disposable.dispose();
  }
}
