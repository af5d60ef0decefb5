/**
 * Builds a Hugging Face hub cache tree the way huggingface_hub lays it out:
 * `models--org--name/blobs/<etag>`, `snapshots/<commit>/<file>` as relative symlinks into the
 * blobs, and `refs/<branch>` files holding a commit hash (no trailing newline).
 * The etag is the sha256 for LFS files (weights) and the git blob id for small text files.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { gitBlobOid, sha256Hex } from './fake-hub-server';

export interface CacheRevisionSpec {
  commit: string;
  /** Branch or tag names pointing at this commit. */
  refs?: string[];
  files: Record<string, Uint8Array | string>;
}

export interface CacheModelSpec {
  repo: string;
  revisions: CacheRevisionSpec[];
}

export interface BuiltCacheModel {
  folder: string;
  /** Blob name -> byte count, each blob once. */
  blobs: Map<string, number>;
}

/** Writes the models under `cacheDir` and returns, per repo, its folder and unique blobs. */
export async function makeHfCache(cacheDir: string, models: CacheModelSpec[]): Promise<Map<string, BuiltCacheModel>> {
  const built = new Map<string, BuiltCacheModel>();
  for (const model of models) {
    const folder = join(cacheDir, `models--${model.repo.split('/').join('--')}`);
    const blobs = new Map<string, number>();
    for (const revision of model.revisions) {
      for (const [path, value] of Object.entries(revision.files)) {
        const content = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
        const etag = /\.(safetensors|bin)$/.test(path) ? sha256Hex(content) : gitBlobOid(content);
        const blob = join(folder, 'blobs', etag);
        if (!blobs.has(etag)) {
          await mkdir(dirname(blob), { recursive: true });
          await writeFile(blob, content);
          blobs.set(etag, content.byteLength);
        }
        const pointer = join(folder, 'snapshots', revision.commit, path);
        await mkdir(dirname(pointer), { recursive: true });
        await symlink(relative(dirname(pointer), blob), pointer);
      }
      await mkdir(join(folder, 'snapshots', revision.commit), { recursive: true });
      for (const ref of revision.refs ?? []) {
        const refPath = join(folder, 'refs', ...ref.split('/'));
        await mkdir(dirname(refPath), { recursive: true });
        await writeFile(refPath, revision.commit);
      }
    }
    await mkdir(join(folder, 'refs'), { recursive: true });
    built.set(model.repo, { folder, blobs });
  }
  return built;
}
