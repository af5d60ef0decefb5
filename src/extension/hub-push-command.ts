/**
 * Push to Hub and Set Hub Token. The token lives in VS Code's SecretStorage; without one the
 * engine falls back to HF_TOKEN and the `huggingface-cli login` token file. The push runs in the
 * extension host (it is network-bound, not compute-bound) under a cancellable notification, and
 * no token ever reaches the log, a message or the result.
 */
import * as vscode from 'vscode';
import { basename } from 'node:path';
import { hubEndpoint } from '../engine/hub/hub-endpoint';
import { pushToHub } from '../engine/hub/hub-push';
import { redactSecret } from '../engine/hub/hub-token';
import { formatBytes } from '../shared/quantities';
import type { PushResult } from '../shared/jobs';
import type { CheckpointFinder } from './checkpoint-finder';
import { pickCheckpoint } from './pickers';
import { requireTrust } from './workspace-trust';

export const HUB_TOKEN_SECRET_KEY = 'checkpointSurgeon.hfToken';
const SET_TOKEN = 'Set Hub Token';
const SHOW_LOG = 'Show Log';

export interface HubCommandContext {
  secrets: vscode.SecretStorage;
  finder: CheckpointFinder;
  log: vscode.LogOutputChannel;
}

export function createHubCommands(ctx: HubCommandContext): Record<string, (...args: never[]) => Promise<unknown>> {
  const { secrets, finder, log } = ctx;

  async function setHubToken(raw?: unknown): Promise<boolean> {
    const given = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>)['token'] : undefined;
    const token = typeof given === 'string' ? given : await vscode.window.showInputBox({
      title: 'Checkpoint Surgeon: Hugging Face token',
      prompt: 'A token with write access (huggingface.co/settings/tokens). Stored in VS Code\'s secret storage; leave empty to remove it.',
      password: true,
      ignoreFocusOut: true,
    });
    if (token === undefined) return false;
    if (token.trim() === '') {
      await secrets.delete(HUB_TOKEN_SECRET_KEY);
      log.info('Removed the stored Hugging Face token.');
    } else {
      await secrets.store(HUB_TOKEN_SECRET_KEY, token.trim());
      log.info('Stored a Hugging Face token in secret storage.');
    }
    return true;
  }

  async function push(raw?: unknown): Promise<PushResult | undefined> {
    const args = typeof raw === 'object' && raw !== null && !(raw instanceof vscode.Uri) ? (raw as Record<string, unknown>) : {};
    requireTrust('Push to Hub');
    const dir = typeof args['dir'] === 'string' && args['dir'] !== '' ? args['dir']
      : raw instanceof vscode.Uri ? raw.fsPath
        : await pickCheckpoint(finder, 'Folder to push (with its README.md model card)');
    if (dir === undefined) return undefined;
    const repo = typeof args['repo'] === 'string' && args['repo'] !== '' ? args['repo'] : await vscode.window.showInputBox({
      title: 'Checkpoint Surgeon: Push to Hub',
      prompt: 'Model repo: org/name, or name for your own user (created private if it does not exist)',
      value: basename(dir),
      ignoreFocusOut: true,
      validateInput: (text) => (/^[\w.-]+(\/[\w.-]+)?$/.test(text.trim()) ? undefined : 'Enter org/name or name.'),
    });
    if (repo === undefined) return undefined;
    const isPrivate = typeof args['private'] === 'boolean' ? args['private'] : true;
    const stored = await secrets.get(HUB_TOKEN_SECRET_KEY);
    const hubUrl = hubEndpoint();
    const title = `Push ${basename(dir)} to ${repo.trim()}`;
    log.info(`${title}: ${stored ? 'token from secret storage' : 'token from HF_TOKEN or the token file'}${hubUrl ? `, Hub ${hubUrl}` : ''}`);
    const controller = new AbortController();
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title, cancellable: true },
        async (progress, cancel) => {
          cancel.onCancellationRequested(() => controller.abort());
          let reported = 0;
          return pushToHub({
            folder: dir, repo: repo.trim(), private: isPrivate, signal: controller.signal,
            ...(stored ? { accessToken: stored } : {}), ...(hubUrl ? { hubUrl } : {}),
            onProgress: (event) => {
              const percent = event.bytesTotal > 0 ? Math.floor((100 * event.bytesUploaded) / event.bytesTotal) : 0;
              progress.report({
                message: `${event.phase}${event.file ? ` ${event.file}` : ''} (${formatBytes(event.bytesUploaded)} of ${formatBytes(event.bytesTotal)})`,
                increment: Math.max(0, percent - reported),
              });
              reported = Math.max(reported, percent);
            },
          });
        },
      );
      log.info(`${title}: commit ${result.commit}, ${result.files.length} files, ${formatBytes(result.bytes)}${result.created ? ', repo created' : ''}; ${result.url}`);
      void vscode.window.showInformationMessage(`Pushed ${result.files.length} files (${formatBytes(result.bytes)}) to ${result.url}.`);
      return { kind: 'push', repo: result.repo, url: result.url, commit: result.commit, created: result.created, files: result.files, bytes: result.bytes };
    } catch (error) {
      // The engine redacts the token already; redacting the stored one again costs nothing.
      const message = redactSecret(error instanceof Error ? error.message : String(error), stored);
      if (controller.signal.aborted) {
        log.info(`${title}: cancelled`);
        void vscode.window.showInformationMessage(`${title} was cancelled.`);
      } else {
        log.error(`${title}: ${message}`);
        void vscode.window.showErrorMessage(`${title}: ${message}`, SET_TOKEN, SHOW_LOG).then((choice) => {
          if (choice === SET_TOKEN) void vscode.commands.executeCommand('checkpointSurgeon.setHubToken');
          if (choice === SHOW_LOG) log.show(true);
        });
      }
      throw new Error(message);
    }
  }

  return {
    'checkpointSurgeon.pushToHub': push,
    'checkpointSurgeon.setHubToken': setHubToken,
  };
}
