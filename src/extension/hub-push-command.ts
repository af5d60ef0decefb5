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
import { parseHubTokenArgs, parsePushArgs, type PushArgs } from './command-args';
import { required, runJobCommand, type Cmd, type CommandContext } from './command-runner';
import { cancelledError, JobError } from './job-worker';
import { pickCheckpoint } from './pickers';
import { requireTrust } from './workspace-trust';

const HUB_TOKEN_SECRET_KEY = 'checkpointSurgeon.hfToken';
const SET_TOKEN = 'Set Hub Token';
const SHOW_LOG = 'Show Log';

/** Why a push failed, with any token already redacted from the message. */
class HubPushError extends Error {
  override readonly name = 'HubPushError';
}

export function setHubToken(ctx: CommandContext): Cmd {
  const { secrets, log } = ctx;
  return (raw) => runJobCommand(ctx, 'Set Hub Token', async () => {
    const given = parseHubTokenArgs(raw).token;
    const token = given ?? await vscode.window.showInputBox({
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
  });
}

export function pushToHubCommand(ctx: CommandContext): Cmd {
  return (raw) => {
    const push: PushState = { title: 'Push to Hub' };
    return runJobCommand<PushResult>(ctx, 'Push to Hub', async () => {
      requireTrust('Push to Hub');
      return pushFolder(ctx, parsePushArgs(raw), push);
    }, (_, error) => showPushFailure(ctx.log, push.title, error));
  };
}

/** What the failure message needs of a push: its title, `Push <folder> to <repo>` once both are known. */
interface PushState { title: string }

async function pushFolder(ctx: CommandContext, args: PushArgs, state: PushState): Promise<PushResult> {
  const { secrets, finder, log } = ctx;
  const dir = args.dir ?? required(await pickCheckpoint(finder, 'Folder to push (with its README.md model card)'));
  const repo = args.repo ?? required(await vscode.window.showInputBox({
    title: 'Checkpoint Surgeon: Push to Hub',
    prompt: 'Model repo: org/name, or name for your own user (created private if it does not exist)',
    value: basename(dir),
    ignoreFocusOut: true,
    validateInput: (text) => (/^[\w.-]+(\/[\w.-]+)?$/.test(text.trim()) ? undefined : 'Enter org/name or name.'),
  }));
  const isPrivate = args.private ?? true;
  const stored = await secrets.get(HUB_TOKEN_SECRET_KEY);
  const hubUrl = hubEndpoint();
  const title = `Push ${basename(dir)} to ${repo.trim()}`;
  state.title = title;
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
    if (controller.signal.aborted) {
      log.info(`${title}: cancelled`);
      throw cancelledError();
    }
    // The engine redacts the token already; redacting the stored one again costs nothing.
    throw new HubPushError(redactSecret(error instanceof Error ? error.message : String(error), stored));
  }
}

/** A cancel as information; a failure with the buttons that fix most of them. */
function showPushFailure(log: vscode.LogOutputChannel, title: string, error: unknown): void {
  if (error instanceof JobError && error.cancelled) {
    void vscode.window.showInformationMessage(`${title} was cancelled.`);
    return;
  }
  void vscode.window.showErrorMessage(`${title}: ${error instanceof Error ? error.message : String(error)}`, SET_TOKEN, SHOW_LOG).then((choice) => {
    if (choice === SET_TOKEN) void vscode.commands.executeCommand('checkpointSurgeon.setHubToken');
    if (choice === SHOW_LOG) log.show(true);
  });
}
