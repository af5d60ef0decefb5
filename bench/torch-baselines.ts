/**
 * Finds a Python that imports torch and builds the commands of `torch_baselines.py`: each job done the fastest
 * reasonable way with torch (memory-mapped inputs, `torch.sub` / `torch.add` into preallocated outputs, every core).
 * torch's version is the one that python's `torch.__version__` prints, never a constant.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { ProcessSpec } from './measure';

/** The pyenv `python3` on PATH usually lacks torch; Debian's `python3-torch` is for `/usr/bin/python3`. */
const PYTHON_CANDIDATES = ['python3', '/usr/bin/python3'];
const SCRIPT = join(__dirname, 'torch_baselines.py');

export interface TorchPython {
  python: string;
  /** `torch.__version__` as that python prints it. */
  version: string;
  /** Threads torch computes with in the baselines (`torch.get_num_threads()` after they set it to every core). */
  threads: number;
  pythonVersion: string;
}

/**
 * Debian's torch starts with one OpenMP thread on this kind of machine. The script sets every core itself
 * (torch.set_num_threads); the environment says so too, so that `import torch` alone runs as in the baselines.
 */
const TORCH_ENV: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(cpus().length) };

/** The first candidate that runs `torch_baselines.py version`, with what it printed; null when none does. */
export function findTorchPython(): TorchPython | null {
  for (const python of PYTHON_CANDIDATES) {
    const probe = spawnSync(python, [SCRIPT, 'version'], { encoding: 'utf8', env: TORCH_ENV });
    if (probe.status !== 0) continue;
    try {
      const printed = JSON.parse(probe.stdout.trim()) as { version?: unknown; threads?: unknown; python?: unknown };
      if (typeof printed.version !== 'string' || typeof printed.threads !== 'number') continue;
      return { python, version: printed.version, threads: printed.threads, pythonVersion: String(printed.python ?? '?') };
    } catch {
      continue;
    }
  }
  return null;
}

function script(torch: TorchPython, args: string[]): ProcessSpec {
  return { command: torch.python, args: [SCRIPT, ...args], env: TORCH_ENV };
}

/** R = instruct - base: an f32 residual (the CLI's default for bf16 models) or one in the models' dtype (`--dtype same`). */
export function torchComputeCommand(torch: TorchPython, dtype: 'f32' | 'same', base: string, instruct: string, out: string): ProcessSpec {
  return script(torch, ['compute', dtype, base, instruct, out]);
}

/** M = base + R in the base's dtype (alpha 1, as the bench's apply rows). */
export function torchApplyCommand(torch: TorchPython, base: string, residual: string, out: string): ProcessSpec {
  return script(torch, ['apply', base, residual, out]);
}

/** base + R compared with instruct bit for bit; exits 1 on a mismatch, which fails the timed run. */
export function torchVerifyCommand(torch: TorchPython, base: string, residual: string, instruct: string): ProcessSpec {
  return script(torch, ['verify', base, residual, instruct]);
}

/** The Python `residuals` package's formulation (whole fp32 state dicts): shown for what it costs, not a fastest way. */
export function torchResidualsPackageCommand(torch: TorchPython, base: string, instruct: string, out: string): ProcessSpec {
  return script(torch, ['residuals-package', base, instruct, out]);
}

/** `import torch` alone: the start-up share of every torch row. */
export function torchImportCommand(torch: TorchPython): ProcessSpec {
  return { command: torch.python, args: ['-c', 'import torch'], env: TORCH_ENV };
}
