/**
 * Finds a Python that imports torch and builds the commands of `torch_baselines.py`: each job done the fastest
 * reasonable way with torch (memory-mapped inputs, `torch.sub` / `torch.add` into preallocated outputs, every core;
 * LoRA with torch.svd_lowrank on an optimized BLAS). torch's version is the one that python's `torch.__version__`
 * prints, never a constant, and its BLAS the library that python has loaded.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
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
  /** What torch's matrix products run on, as the script finds it: `MKL (built in)` or the BLAS library's path. */
  blas: string;
  /** That BLAS is the reference one (Debian's libblas3: unblocked, one thread), no way to do linear algebra fast. */
  referenceBlas: boolean;
  /** The environment its commands run in, where it differs from the default (an optimized BLAS on the library path). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Debian's torch starts with one OpenMP thread on this kind of machine. The script sets every core itself
 * (torch.set_num_threads); the environment says so too, so that `import torch` alone runs as in the baselines.
 */
const TORCH_ENV: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(cpus().length) };

/** What `torch_baselines.py version` prints with this python in this environment; null when it does not run. */
function probeTorch(python: string, env: NodeJS.ProcessEnv): TorchPython | null {
  const probe = spawnSync(python, [SCRIPT, 'version'], { encoding: 'utf8', env });
  if (probe.status !== 0) return null;
  try {
    const printed = JSON.parse(probe.stdout.trim()) as { version?: unknown; threads?: unknown; python?: unknown; blas?: unknown; referenceBlas?: unknown };
    if (typeof printed.version !== 'string' || typeof printed.threads !== 'number') return null;
    return {
      python, version: printed.version, threads: printed.threads, pythonVersion: String(printed.python ?? '?'),
      blas: String(printed.blas ?? 'unknown'), referenceBlas: printed.referenceBlas === true,
      ...(env === TORCH_ENV ? {} : { env }),
    };
  } catch {
    return null;
  }
}

/** The first candidate that runs `torch_baselines.py version`, with what it printed; null when none does. */
export function findTorchPython(): TorchPython | null {
  for (const python of PYTHON_CANDIDATES) {
    const found = probeTorch(python, TORCH_ENV);
    if (found) return found;
  }
  return null;
}

/**
 * Folders holding an optimized `libblas.so.3` that Debian's torch loads in place of the reference one when they lead
 * the library path (as Debian's alternatives would point to them on installing the package): OpenBLAS or BLIS
 * installed, or `libopenblas0-pthread` unpacked without root into `.bench/blas`
 * (`apt-get download libopenblas0-pthread && dpkg-deb -x libopenblas0-pthread_*.deb .bench/blas`).
 */
export function blasCandidates(benchDir: string): string[] {
  const multiarch = 'usr/lib/x86_64-linux-gnu';
  const flavours = ['openblas-pthread', 'openblas-openmp', 'blis-pthread', 'blis-openmp'];
  return [...flavours.map((flavour) => join(benchDir, 'blas', multiarch, flavour)), ...flavours.map((flavour) => join('/', multiarch, flavour))];
}

/**
 * Torch as the linear-algebra baselines need it: as found when its BLAS is optimized; with the reference BLAS, the
 * same python with the first of `folders` holding a `libblas.so.3` that it then loads and that is not the reference
 * one; null when there is none.
 */
export function withOptimizedBlas(torch: TorchPython, folders: readonly string[]): TorchPython | null {
  if (!torch.referenceBlas) return torch;
  for (const folder of folders) {
    if (!existsSync(join(folder, 'libblas.so.3'))) continue;
    const libraryPath = [resolve(folder), process.env['LD_LIBRARY_PATH']].filter(Boolean).join(delimiter);
    const found = probeTorch(torch.python, { ...TORCH_ENV, LD_LIBRARY_PATH: libraryPath });
    if (found && !found.referenceBlas) return found;
  }
  return null;
}

function script(torch: TorchPython, args: string[]): ProcessSpec {
  return { command: torch.python, args: [SCRIPT, ...args], env: torch.env ?? TORCH_ENV };
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

/**
 * The residual as a PEFT LoRA adapter folder: per matrix the f32 delta, torch.svd_lowrank(delta, q = rank +
 * oversampling, niter), factors U√S and √S Vᵀ in the models' dtype.
 */
export function torchLoraCommand(torch: TorchPython, rank: number, base: string, instruct: string, out: string, oversampling: number, niter: number): ProcessSpec {
  return script(torch, ['lora', String(rank), base, instruct, out, String(oversampling), String(niter)]);
}

/** Not timed: ||Δ − B A||_F / ||Δ||_F of each module of an adapter folder, as one JSON line. */
export function torchLoraErrorCommand(torch: TorchPython, base: string, instruct: string, adapter: string): ProcessSpec {
  return script(torch, ['lora-error', base, instruct, adapter]);
}

/** Not a baseline: a full torch.linalg.svd of the first delta, timed inside, and the best rank-`rank` error. */
export function torchFullSvdCommand(torch: TorchPython, rank: number, base: string, instruct: string): ProcessSpec {
  return script(torch, ['lora-full-svd', String(rank), base, instruct]);
}

/** `import torch` alone: the start-up share of every torch row. */
export function torchImportCommand(torch: TorchPython): ProcessSpec {
  return { command: torch.python, args: ['-c', 'import torch'], env: torch.env ?? TORCH_ENV };
}
