import { execFile } from 'node:child_process';

/** A file with less than this share of its bytes in the page cache is read around it. */
const RESIDENT_SHARE_FOR_CACHED_READS = 0.5;

/** `fincore` maps and probes each file; about 3 ms a GB here, so even 800 GB stay within this. */
const FINCORE_TIMEOUT_MS = 30_000;

interface FincoreReport {
  fincore?: Array<{ file?: unknown; res?: unknown; size?: unknown }>;
}

/**
 * The files among `paths` that are mostly not in the page cache, asked of util-linux `fincore`
 * (mincore(2) behind it; Node has no binding of its own). Reading such a file through the cache
 * costs a page allocation and a copy per 4 KiB, which on virtual machines that hand free memory
 * back to their host ran at a third of the disk's speed (docs/architecture.md). Where `fincore` is
 * missing, fails or times out, no file is named: every file is then read through the cache, which
 * is never wrong, only slower.
 */
export async function mostlyUncachedFiles(paths: readonly string[]): Promise<Set<string>> {
  const uncached = new Set<string>();
  if (process.platform !== 'linux' || paths.length === 0) return uncached;
  const stdout = await new Promise<string>((resolve) => {
    const args = ['--json', '--bytes', '--output', 'RES,SIZE,FILE', '--', ...paths];
    // A file fincore cannot open makes it exit 1 after reporting the others, so stdout is read either way.
    execFile('fincore', args, { timeout: FINCORE_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 }, (_error, out) => resolve(String(out ?? '')));
  });
  let report: FincoreReport;
  try {
    report = JSON.parse(stdout) as FincoreReport;
  } catch {
    return uncached;
  }
  const asked = new Set(paths);
  for (const entry of report.fincore ?? []) {
    const resident = Number(entry.res);
    const size = Number(entry.size);
    if (typeof entry.file !== 'string' || !asked.has(entry.file) || !(size > 0)) continue;
    if (resident < size * RESIDENT_SHARE_FOR_CACHED_READS) uncached.add(entry.file);
  }
  return uncached;
}
