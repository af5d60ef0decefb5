import { readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { SurgeonError } from '../errors';
import { missingWeightFiles } from './checkpoint-files';
import { hubCacheDir, resolveHubId } from './hub-cache';
import { downloadCheckpoint, isHubOffline, type HubDownloadProgress } from './hub-download';
import { formatHubId, parseHubId } from './hub-id';

export interface ResolveCheckpointOptions {
  /** Fetch from the Hub when the model is not (fully) cached. Default false. */
  allowDownload?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: HubDownloadProgress) => void;
  cacheDir?: string;
  hubUrl?: string;
  accessToken?: string;
  /** Folder that relative paths are resolved against. Default the process's working folder. */
  cwd?: string;
}

export interface ResolvedCheckpoint {
  /** A local folder or file to open as a checkpoint. */
  path: string;
  source: 'path' | 'cache' | 'download';
  hub?: { repo: string; revision: string; commit: string };
}

/**
 * Turns what a user typed where a checkpoint is accepted into a local path: an existing file or
 * folder wins; else a Hub id (`org/name[@revision]`) found in the Hugging Face cache; else, when
 * allowed, the id downloaded into that cache.
 */
export async function resolveCheckpoint(spec: string, options: ResolveCheckpointOptions = {}): Promise<ResolvedCheckpoint> {
  const cwd = options.cwd ?? process.cwd();
  const localPath = resolve(cwd, spec.startsWith('~/') ? `${homedir()}${spec.slice(1)}` : spec);
  if (await exists(localPath)) return { path: localPath, source: 'path' };
  if (looksLikePath(spec)) throw new SurgeonError('usage', 'no such file or folder', localPath);

  const id = parseHubId(spec);
  const label = formatHubId(id);
  const cacheDir = options.cacheDir ?? hubCacheDir();
  const cached = await resolveHubId(id, cacheDir);
  let incomplete = '';
  if (cached !== undefined) {
    const missing = await missingWeightFiles(cached.path, await readdir(cached.path));
    const hub = { repo: cached.repo, revision: cached.revision, commit: cached.commit };
    if (missing.length === 0) return { path: cached.path, source: 'cache', hub };
    incomplete = ` is in the Hugging Face cache (${cached.path}) but lacks ${missing.join(', ')}`;
  }
  const why = incomplete || ` is not a local path and not in the Hugging Face cache (${cacheDir})`;
  if (!options.allowDownload) {
    throw new SurgeonError('hub', `${label}${why}; pass --download to fetch it into the cache (or run checkpoint-surgeon pull ${label})`);
  }
  if (isHubOffline()) {
    throw new SurgeonError('hub', `${label}${why}, and HF_HUB_OFFLINE is set`);
  }
  const downloaded = await downloadCheckpoint(id, {
    cacheDir, hubUrl: options.hubUrl, accessToken: options.accessToken, signal: options.signal, onProgress: options.onProgress,
  });
  return { path: downloaded.path, source: 'download', hub: { repo: downloaded.repo, revision: downloaded.revision, commit: downloaded.commit } };
}

/** The local folder (or file) for a checkpoint spec; see {@link resolveCheckpoint}. */
export async function resolveCheckpointPath(spec: string, options: ResolveCheckpointOptions = {}): Promise<string> {
  return (await resolveCheckpoint(spec, options)).path;
}

/** Specs that can only mean a path, so a typo is not sent to the Hub as a model id. */
function looksLikePath(spec: string): boolean {
  return /^(\.{1,2}([\\/]|$)|[\\/]|~|[A-Za-z]:)/.test(spec) || spec.includes('\\') || /\.(safetensors|json)$/.test(spec);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
