import { mkdir, readFile, realpath, rename, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SURGEON_ENV } from '../../shared/environment';

/** Oldest entries beyond this are dropped: a few thousand shards cover every model a user keeps. */
const MAX_ENTRIES = 4096;
const CACHE_FILE = 'sha256-v1.json';

/**
 * What must be unchanged for a remembered digest to still describe a file: the same inode on the
 * same device, size and modification time, and the same inode change time, which every write and
 * every `touch` moves and no user-level call can set back (git trusts the same fields).
 */
interface FileIdentity {
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
}

interface Entry extends FileIdentity {
  sha256: string;
  usedAt: number;
}

/**
 * SHA-256 digests of files already hashed, so a job over the same 100 GB base does not hash it
 * again. A cache that cannot be read or written only costs time: it never fails a job.
 */
export class DigestCache {
  private changed = false;

  private constructor(private readonly file: string | undefined, private readonly entries: Map<string, Entry>) {}

  /**
   * `CHECKPOINT_SURGEON_CACHE` names the folder (`off` disables the cache); otherwise
   * `$XDG_CACHE_HOME/checkpoint-surgeon` or `~/.cache/checkpoint-surgeon`.
   */
  static async open(env: NodeJS.ProcessEnv = process.env): Promise<DigestCache> {
    const dir = env[SURGEON_ENV.cache] ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'checkpoint-surgeon');
    if (dir === 'off') return new DigestCache(undefined, new Map());
    const file = join(dir, CACHE_FILE);
    const entries = new Map<string, Entry>();
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as { entries?: Record<string, Entry> };
      for (const [path, entry] of Object.entries(parsed.entries ?? {})) {
        if (typeof entry?.sha256 === 'string' && /^[0-9a-f]{64}$/.test(entry.sha256)) entries.set(path, entry);
      }
    } catch {
      // Missing or damaged: start empty and write a fresh one.
    }
    return new DigestCache(file, entries);
  }

  /** The remembered digest of the file, when it is provably the one that was hashed. */
  lookup(file: IdentifiedFile): string | undefined {
    const entry = this.entries.get(file.path);
    if (!entry || !sameIdentity(entry, file.identity)) return undefined;
    entry.usedAt = Date.now();
    this.changed = true;
    return entry.sha256;
  }

  /**
   * Remembers a digest. Call it with the identity taken before the file was hashed, so a write
   * during hashing (which moves ctime) leaves an entry that never matches.
   */
  remember(file: IdentifiedFile, sha256: string): void {
    this.entries.set(file.path, { ...file.identity, sha256, usedAt: Date.now() });
    this.changed = true;
  }

  async save(): Promise<void> {
    if (!this.file || !this.changed) return;
    const kept = [...this.entries].sort((x, y) => y[1].usedAt - x[1].usedAt).slice(0, MAX_ENTRIES);
    const temporary = `${this.file}.${process.pid}.${Date.now()}.tmp`;
    try {
      await mkdir(join(this.file, '..'), { recursive: true });
      await writeFile(temporary, `${JSON.stringify({ entries: Object.fromEntries(kept) })}\n`);
      await rename(temporary, this.file);
      this.changed = false;
    } catch {
      // A read-only home or a full disk: the next job hashes again.
    }
  }
}

export interface IdentifiedFile {
  /** The resolved path: a Hugging Face cache blob reached through different snapshots is one entry. */
  path: string;
  identity: FileIdentity;
}

export async function identify(path: string): Promise<IdentifiedFile | undefined> {
  try {
    const resolved = await realpath(path);
    const stats = await stat(resolved, { bigint: true });
    return {
      path: resolved,
      identity: {
        dev: String(stats.dev), ino: String(stats.ino), size: String(stats.size),
        mtimeNs: String(stats.mtimeNs), ctimeNs: String(stats.ctimeNs),
      },
    };
  } catch {
    return undefined;
  }
}

function sameIdentity(entry: FileIdentity, now: FileIdentity): boolean {
  return entry.dev === now.dev && entry.ino === now.ino && entry.size === now.size
    && entry.mtimeNs === now.mtimeNs && entry.ctimeNs === now.ctimeNs;
}
