import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { getHFHubCachePath, getRepoFolderName, scanCacheDir } from '@huggingface/hub';
import { SurgeonError } from '../errors';
import { DEFAULT_REVISION, isCommitHash, parseHubId, type HubId } from './hub-id';

/** One revision of a cached model: a snapshot folder of symlinks into the shared blobs. */
export interface CachedRevision {
  commit: string;
  /** Branches and tags that point at this commit (`main`, ...). */
  refs: string[];
  /** The snapshot folder, usable as a checkpoint folder. */
  path: string;
  /** Bytes of the blobs this revision's files point to. */
  size: number;
  /** File names in the snapshot. */
  files: string[];
  lastModified: string;
}

export interface CachedModel {
  /** `org/name` */
  repo: string;
  /** The `models--org--name` folder. */
  path: string;
  /** Bytes on disk of all blobs of this model (blobs shared by revisions count once). */
  sizeOnDisk: number;
  revisions: CachedRevision[];
  lastModified: string;
  lastAccessed: string;
}

export interface CachedModelList {
  cacheDir: string;
  models: CachedModel[];
  /** Folders of the cache that could not be read as a repo, one line each. */
  warnings: string[];
}

/** A revision found in the cache, resolved to its snapshot folder. */
export interface CachedSnapshot {
  repo: string;
  /** The revision asked for (`main` when none was given). */
  revision: string;
  commit: string;
  path: string;
}

/** Shortest commit prefix accepted, as in git's default abbreviation. */
const MIN_SHORT_COMMIT_LENGTH = 7;

/**
 * The Hugging Face hub cache folder, found the way huggingface_hub finds it: `HF_HUB_CACHE`,
 * else `HF_HOME/hub`, else `~/.cache/huggingface/hub` (also honouring `XDG_CACHE_HOME`).
 */
export function hubCacheDir(): string {
  return getHFHubCachePath();
}

/** Lists the models in the cache; an absent cache folder is an empty list, not an error. */
export async function listCachedModels(cacheDir: string = hubCacheDir()): Promise<CachedModelList> {
  if (!(await isDirectory(cacheDir))) return { cacheDir, models: [], warnings: [] };
  const scan = await scanCacheDir(cacheDir);
  const models = scan.repos
    .filter((repo) => repo.id.type === 'model')
    .map((repo): CachedModel => ({
      repo: repo.id.name,
      path: repo.path,
      sizeOnDisk: repo.size,
      revisions: repo.revisions
        .map((revision): CachedRevision => ({
          commit: revision.commitOid,
          refs: [...revision.refs].sort(),
          path: revision.path,
          size: revision.size,
          files: revision.files.map((file) => file.path.slice(revision.path.length + 1)).sort(),
          lastModified: revision.lastModifiedAt.toISOString(),
        }))
        .sort((a, b) => b.lastModified.localeCompare(a.lastModified) || a.commit.localeCompare(b.commit)),
      lastModified: repo.lastModifiedAt.toISOString(),
      lastAccessed: repo.lastAccessedAt.toISOString(),
    }))
    .sort((a, b) => a.repo.localeCompare(b.repo));
  return { cacheDir, models, warnings: scan.warnings.map((warning) => warning.message) };
}

/** The `models--org--name` folder of a repo in the cache (whether it exists or not). */
export function cachedModelFolder(repo: string, cacheDir: string = hubCacheDir()): string {
  return join(cacheDir, getRepoFolderName({ type: 'model', name: repo }));
}

/**
 * Resolves `org/name[@revision]` to a snapshot folder of the cache, without any network access:
 * `refs/<revision>` first (branches and tags, `main` by default), then a full commit hash, then a
 * unique commit prefix. Returns undefined when that revision is not cached.
 */
export async function resolveHubId(
  spec: string | HubId,
  cacheDir: string = hubCacheDir(),
): Promise<CachedSnapshot | undefined> {
  const id = typeof spec === 'string' ? parseHubId(spec) : spec;
  const revision = id.revision ?? DEFAULT_REVISION;
  const folder = cachedModelFolder(id.repo, cacheDir);
  const commit = await findCommit(folder, revision, id.repo);
  if (commit === undefined) return undefined;
  const path = join(folder, 'snapshots', commit);
  if (!(await isDirectory(path))) return undefined;
  return { repo: id.repo, revision, commit, path };
}

async function findCommit(folder: string, revision: string, repo: string): Promise<string | undefined> {
  const fromRef = await readRef(join(folder, 'refs', ...revision.split('/')));
  if (fromRef !== undefined) return fromRef;
  if (isCommitHash(revision)) return revision;
  if (revision.length < MIN_SHORT_COMMIT_LENGTH || !/^[0-9a-f]+$/.test(revision)) return undefined;
  const snapshots = await readdir(join(folder, 'snapshots')).catch(() => [] as string[]);
  const matches = snapshots.filter((name) => isCommitHash(name) && name.startsWith(revision));
  if (matches.length > 1) {
    throw new SurgeonError('usage', `commit prefix ${revision} of ${repo} is ambiguous in the cache: ${matches.join(', ')}`, folder);
  }
  return matches[0];
}

async function readRef(path: string): Promise<string | undefined> {
  try {
    const commit = (await readFile(path, 'utf8')).trim();
    return isCommitHash(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
