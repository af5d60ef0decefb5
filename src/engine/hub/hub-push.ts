import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createRepo, HubApiError, uploadFilesWithProgress, whoAmI, type CommitOutput, type CommitProgressEvent,
} from '@huggingface/hub';
import { SurgeonError } from '../errors';
import { toHubError } from './hub-errors';
import { createGuardedFetch } from './hub-fetch';
import { parseHubId } from './hub-id';
import { hubEndpoint } from './hub-endpoint';
import { resolveHubToken } from './hub-token';

const MODEL_CARD_FILE = 'README.md';

export interface HubPushProgress {
  phase: 'preparing' | 'preuploading' | 'uploadingLargeFiles' | 'committing';
  /** The file the last event was about. */
  file?: string;
  bytesHashed: number;
  bytesUploaded: number;
  bytesTotal: number;
}

export interface HubPushOptions {
  /** The folder to push: a residual or an applied checkpoint, with its README.md model card. */
  folder: string;
  /** `org/name`, or `name` to push under the token's own user. */
  repo: string;
  /** A token with write access; else HF_TOKEN or the token file. */
  accessToken?: string;
  /** Visibility of a repo this call creates; an existing repo keeps its own. Default private. */
  private?: boolean;
  /** README.md content to upload instead of the folder's own. */
  modelCard?: string;
  commitTitle?: string;
  hubUrl?: string;
  signal?: AbortSignal;
  onProgress?: (progress: HubPushProgress) => void;
}

export interface HubPushResult {
  repo: string;
  url: string;
  commit: string;
  /** False when the repo already existed. */
  created: boolean;
  /** Visibility requested for a created repo; undefined when the repo already existed. */
  private?: boolean;
  files: string[];
  bytes: number;
}

/**
 * Pushes a folder's files (top level, no dot files) to a model repo on the Hub in one commit,
 * creating the repo first (private unless asked otherwise). The token never appears in results,
 * errors or progress.
 */
export async function pushToHub(options: HubPushOptions): Promise<HubPushResult> {
  const hubUrl = hubEndpoint(options.hubUrl);
  const action = `pushing to ${options.repo}`;
  const requested = parseHubId(options.repo);
  if (requested.revision !== undefined) {
    throw new SurgeonError('usage', `${action}: give a repo id without "@revision"; pushes go to main`);
  }
  const found = await resolveHubToken(options.accessToken);
  if (found === undefined) {
    throw new SurgeonError('hub', `${action}: pushing needs a Hugging Face token with write access (set HF_TOKEN, run "huggingface-cli login", or store one in the extension)`);
  }
  const token = found.token;
  const guard = createGuardedFetch({ signal: options.signal });
  const fail = (error: unknown) =>
    toHubError(error, { action, hubUrl, token, signal: options.signal, timeoutReason: guard.timeoutReason() });

  const folder = resolve(options.folder);
  const files = await pushableFiles(folder, options.modelCard !== undefined);
  if (!files.some((file) => file.name === MODEL_CARD_FILE) && options.modelCard === undefined) {
    throw new SurgeonError('hub', `${action}: the folder has no ${MODEL_CARD_FILE} model card; write one before pushing`, folder);
  }
  const uploads: Array<{ path: string; content: URL | Blob }> = files.map((file) => ({
    path: file.name, content: pathToFileURL(join(folder, file.name)),
  }));
  const sizes = new Map(files.map((file) => [file.name, file.size]));
  if (options.modelCard !== undefined) {
    const card = new Blob([options.modelCard]);
    uploads.push({ path: MODEL_CARD_FILE, content: card });
    sizes.set(MODEL_CARD_FILE, card.size);
  }
  const bytesTotal = [...sizes.values()].reduce((sum, size) => sum + size, 0);

  try {
    let repo = requested.repo;
    if (!repo.includes('/')) {
      const user = await whoAmI({ accessToken: token, hubUrl, fetch: guard.fetch });
      repo = `${user.name}/${repo}`;
    }
    options.onProgress?.({ phase: 'preparing', bytesHashed: 0, bytesUploaded: 0, bytesTotal });
    const isPrivate = options.private ?? true;
    let created = true;
    try {
      await createRepo({ repo, accessToken: token, hubUrl, visibility: isPrivate ? 'private' : 'public', fetch: guard.fetch });
    } catch (error) {
      if (!(error instanceof HubApiError && error.statusCode === 409)) throw error;
      created = false;
    }

    const hashed = new Map<string, number>();
    const uploaded = new Map<string, number>();
    const total = (fractions: Map<string, number>) =>
      Math.round([...fractions].reduce((sum, [path, fraction]) => sum + fraction * (sizes.get(path) ?? 0), 0));
    // In Node the library reports upload progress per file (0, then 1) and hashing progress per chunk.
    const events = uploadFilesWithProgress({
      repo, accessToken: token, hubUrl, files: uploads, abortSignal: options.signal,
      commitTitle: options.commitTitle ?? 'Upload with Checkpoint Surgeon',
    });
    let phase: HubPushProgress['phase'] = 'preuploading';
    let output: CommitOutput | undefined;
    for (;;) {
      const next: IteratorResult<CommitProgressEvent, CommitOutput | undefined> = await events.next();
      if (next.done) {
        output = next.value;
        break;
      }
      const event = next.value;
      let file: string | undefined;
      if (event.event === 'phase') {
        phase = event.phase;
      } else if (event.state === 'hashing') {
        hashed.set(event.path, event.progress);
        file = event.path;
      } else if (event.state === 'uploading') {
        uploaded.set(event.path, event.progress);
        file = event.path;
      }
      options.onProgress?.({ phase, file, bytesHashed: total(hashed), bytesUploaded: total(uploaded), bytesTotal });
    }
    if (output === undefined) throw new SurgeonError('hub', `${action}: the Hub returned no commit`);
    return {
      repo, url: `${hubUrl}/${repo}`, commit: output.commit.oid, created, ...(created ? { private: isPrivate } : {}),
      files: [...sizes.keys()].sort(), bytes: bytesTotal,
    };
  } catch (error) {
    throw fail(error);
  }
}

/** The regular files at the folder's top level, dot files left out (locks, partial markers). */
async function pushableFiles(folder: string, replacingCard: boolean): Promise<Array<{ name: string; size: number }>> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (error) {
    throw new SurgeonError('io', `cannot read the folder to push: ${(error as Error).message}`, folder);
  }
  const files: Array<{ name: string; size: number }> = [];
  for (const name of names.sort()) {
    if (name.startsWith('.') || (replacingCard && name === MODEL_CARD_FILE)) continue;
    const info = await stat(join(folder, name));
    if (info.isFile()) files.push({ name, size: info.size });
  }
  if (files.length === 0) throw new SurgeonError('hub', 'the folder to push has no files', folder);
  return files;
}
