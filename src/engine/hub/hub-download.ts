import { mkdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { downloadFileToCacheDir, listFiles, modelInfo, type ListFileEntry } from '@huggingface/hub';
import { hubEndpoint } from './hub-endpoint';
import { SurgeonError } from '../errors';
import { planCheckpointFiles, shardNamesOfIndex } from './checkpoint-files';
import { cachedModelFolder, hubCacheDir } from './hub-cache';
import { toHubError } from './hub-errors';
import { createGuardedFetch } from './hub-fetch';
import { DEFAULT_REVISION, formatHubId, parseHubId, type HubId } from './hub-id';
import { resolveHubToken } from './hub-token';
import type { PullResult } from '../../shared/jobs';

export interface HubDownloadProgress {
  /** The file being fetched. */
  file: string;
  fileBytesDone: number;
  fileBytesTotal: number;
  /** Bytes fetched so far in this download, over all files. */
  bytesDone: number;
  /** Bytes of the files that were not cached yet when the download started. */
  bytesTotal: number;
}

export interface HubDownloadOptions {
  cacheDir?: string;
  hubUrl?: string;
  /** A token; else HF_TOKEN or the token file; anonymous when there is none. */
  accessToken?: string;
  signal?: AbortSignal;
  onProgress?: (progress: HubDownloadProgress) => void;
  responseStartTimeoutMs?: number;
  bodyStallTimeoutMs?: number;
}

/** The CLI's and the extension's `pull` result, without its kind. */
export type HubDownloadResult = Omit<PullResult, 'kind'>;

/** `HF_HUB_OFFLINE=1` is huggingface_hub's switch for "never touch the network". */
export function isHubOffline(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['1', 'true', 'yes', 'on'].includes((env['HF_HUB_OFFLINE'] ?? '').toLowerCase());
}

/**
 * Downloads the checkpoint files of a model (weights, index, config and tokenizer files) into the
 * standard Hugging Face cache layout (blobs, snapshot symlinks, refs) so that Python tools find it
 * too. Files already cached are not fetched again. A failed or cancelled download leaves no file
 * in the snapshot and no partial blob.
 */
export async function downloadCheckpoint(spec: string | HubId, options: HubDownloadOptions = {}): Promise<HubDownloadResult> {
  const id = typeof spec === 'string' ? parseHubId(spec) : spec;
  const revision = id.revision ?? DEFAULT_REVISION;
  const hubUrl = hubEndpoint(options.hubUrl);
  const cacheDir = options.cacheDir ?? hubCacheDir();
  const action = `downloading ${formatHubId(id)}`;
  if (isHubOffline()) {
    throw new SurgeonError('hub', `${action}: HF_HUB_OFFLINE is set, so the Hub is not contacted; only cached models can be used`);
  }
  const token = (await resolveHubToken(options.accessToken))?.token;

  let activeFile: { name: string; done: number; total: number } | undefined;
  let bytesDone = 0;
  let bytesTotal = 0;
  const guard = createGuardedFetch({
    signal: options.signal,
    responseStartTimeoutMs: options.responseStartTimeoutMs,
    bodyStallTimeoutMs: options.bodyStallTimeoutMs,
    onBodyBytes: (count) => {
      if (activeFile === undefined) return;
      activeFile.done += count;
      bytesDone += count;
      options.onProgress?.({
        file: activeFile.name, fileBytesDone: activeFile.done, fileBytesTotal: activeFile.total, bytesDone, bytesTotal,
      });
    },
  });
  const common = { hubUrl, fetch: guard.fetch, ...(token ? { accessToken: token } : {}) };
  const fail = (error: unknown, file?: string) =>
    toHubError(error, { action, hubUrl, token, signal: options.signal, timeoutReason: guard.timeoutReason(), file });

  const folder = cachedModelFolder(id.repo, cacheDir);
  let commit: string;
  let listing: ListFileEntry[];
  try {
    const info = await modelInfo({ ...common, name: id.repo, revision, additionalFields: ['sha'] });
    if (typeof info.sha !== 'string' || !/^[0-9a-f]{40}$/.test(info.sha)) {
      throw new SurgeonError('hub', `${action}: the Hub did not name the commit of revision ${revision}`);
    }
    commit = info.sha;
    listing = [];
    for await (const entry of listFiles({ ...common, repo: id.repo, revision: commit })) {
      if (entry.type === 'file') listing.push(entry);
    }
  } catch (error) {
    throw fail(error);
  }
  const snapshot = join(folder, 'snapshots', commit);
  const entries = new Map(listing.map((entry) => [entry.path, entry]));
  const plan = planCheckpointFiles(listing.map((entry) => ({ path: entry.path, size: entryBytes(entry) })), id.repo);

  const fetchFile = async (name: string): Promise<void> => {
    const entry = entries.get(name);
    if (entry === undefined) {
      throw new SurgeonError('missing-shard', `${action}: ${name} is named by the index but not in the repo`, name);
    }
    if (await isFile(join(snapshot, name))) return;
    activeFile = { name, done: 0, total: entryBytes(entry) };
    try {
      // `xet: false` makes the library stream the file over plain HTTP (the Hub redirects to its
      // CDN), which the guarded fetch can time, cancel and count; `downloadFile` reads it.
      const params = { ...common, repo: id.repo, path: name, revision: commit, cacheDir, xet: false as const };
      await downloadFileToCacheDir(params);
    } catch (error) {
      // The library writes `<blob>.incomplete` and renames it only when complete; remove what a
      // failure leaves so that no partial file stays behind.
      await rm(join(folder, 'blobs', `${blobName(entry)}.incomplete`), { force: true });
      // An empty snapshot folder would look like a cached revision; it only goes when still empty.
      await rmdir(snapshot).catch(() => undefined);
      throw fail(error, name);
    } finally {
      activeFile = undefined;
    }
  };

  const missing = async (names: readonly string[]) => {
    const result: string[] = [];
    for (const name of names) if (!(await isFile(join(snapshot, name)))) result.push(name);
    return result;
  };
  const sumBytes = (names: readonly string[]) => names.reduce((sum, name) => sum + entryBytes(entries.get(name)), 0);

  let weights = plan.weights;
  const upfront = await missing([...(plan.index ? [plan.index] : []), ...plan.sideFiles, ...weights]);
  bytesTotal = sumBytes(upfront);
  if (plan.index !== undefined) {
    await fetchFile(plan.index);
    const indexPath = join(snapshot, plan.index);
    weights = shardNamesOfIndex(await readFile(indexPath, 'utf8'), indexPath);
    bytesTotal += sumBytes(await missing(weights));
  }
  for (const name of [...weights, ...plan.sideFiles]) await fetchFile(name);

  if (revision !== commit && !commit.startsWith(revision)) {
    // huggingface_hub records which commit a branch or tag pointed to, so later offline runs
    // resolve `main` to this snapshot; written last, so an interrupted download never moves it.
    const ref = join(folder, 'refs', ...revision.split('/'));
    await mkdir(dirname(ref), { recursive: true });
    await writeFile(ref, commit);
  }
  const files = [...(plan.index ? [plan.index] : []), ...weights, ...plan.sideFiles];
  return { repo: id.repo, revision, commit, path: snapshot, files, bytesDownloaded: bytesDone };
}

/** A file's size on the Hub (the LFS object's size, not its pointer's). */
function entryBytes(entry: ListFileEntry | undefined): number {
  return entry?.lfs?.size ?? entry?.size ?? 0;
}

/** The blob name the library gives a file in the cache, the same as huggingface_hub's etag. */
function blobName(entry: ListFileEntry): string {
  return entry.lfs?.oid ?? entry.xetHash ?? entry.oid ?? '';
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
