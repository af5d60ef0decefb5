/** Finds a Python that imports torch and builds the two baseline commands of `torch_baselines.py`. */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { ProcessSpec } from './measure';

/** The pyenv `python3` on PATH usually lacks torch; Debian's `python3-torch` is for `/usr/bin/python3`. */
const PYTHON_CANDIDATES = ['python3', '/usr/bin/python3'];
const SCRIPT = join(__dirname, 'torch_baselines.py');

export type TorchBaseline = 'stream' | 'fp32-dict';

export interface TorchPython {
  python: string;
  version: string;
  /** Threads torch uses when the baselines run (OMP_NUM_THREADS below). */
  threads: number;
}

/**
 * Debian's torch starts with one OpenMP thread on this kind of machine; the baselines get every
 * core, so that the comparison is against torch at its best, not its default.
 */
const TORCH_ENV: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(cpus().length) };

/** The first candidate whose `import torch` works, with torch's version; null when none does. */
export function findTorchPython(): TorchPython | null {
  for (const python of PYTHON_CANDIDATES) {
    const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__, torch.get_num_threads())'], { encoding: 'utf8', env: TORCH_ENV });
    if (probe.status !== 0) continue;
    const [version = '?', threads = '0'] = probe.stdout.trim().split(' ');
    return { python, version, threads: Number(threads) };
  }
  return null;
}

export function torchBaselineCommand(torch: TorchPython, mode: TorchBaseline, base: string, instruct: string, out: string): ProcessSpec {
  return { command: torch.python, args: [SCRIPT, mode, base, instruct, out], env: TORCH_ENV };
}

/** `import torch` alone: the start-up share of both baseline rows. */
export function torchImportCommand(torch: TorchPython): ProcessSpec {
  return { command: torch.python, args: ['-c', 'import torch'], env: TORCH_ENV };
}
