/**
 * The LoRA rows (issue 24, docs/lora.md): `lora --rank R` on the synthetic pair, whole processes, warm, in rounds with
 * the I/O floor of the same round (read both models, write a file of the adapter's size, fdatasync; through the page
 * cache and around it, the faster of the round counts) and torch doing the same work the fastest reasonable way
 * (`torch_baselines.py lora`: per matrix the f32 delta, torch.svd_lowrank, the factors in bf16): once as users call it
 * (q = r + 10, niter = 2) and once with the sampling the CLI uses (q = r + max(10, r/2), 3 iterations: the same
 * products). Then, untimed: every adapter's error ||Δ − B A||_F / ||Δ||_F measured by torch (ours checked against our
 * `--json`), and one full torch.linalg.svd for the best error a rank-R adapter can have. With an NVIDIA GPU whose
 * CUDA provider onnxruntime-node loads, one more row runs `--spectra-backend ort`; without, one line says so.
 *
 * `npm run bench` prints these rows (`--no-lora` leaves them out).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { DryRunResult, LoraResult } from '../src/shared/jobs';
import { loadMatrixBackend } from '../src/spectra-backends/load-matrix-backend';
import type { SyntheticPair } from './generate-pair';
import { median, removeQuietly, summarize, timeProcess, warmPageCache, type Measurement, type ProcessSpec } from './measure';
import { FLOOR_WAYS, floorCommand } from './pair-runs';
import { torchFullSvdCommand, torchLoraCommand, torchLoraErrorCommand, withOptimizedBlas, type TorchPython } from './torch-baselines';

/** torch.svd_lowrank as users call it: q = rank + 10 columns, 2 subspace iterations (its defaults' shape). */
const TORCH_OVERSAMPLING = 10;
const TORCH_NITER = 2;
/** The CLI's sampling (src/engine/spectra/truncated-svd.ts): max(10, r/2) extra columns, 3 iterations of 2 products. */
const oursOversampling = (rank: number): number => Math.max(10, Math.ceil(rank / 2));
const OUR_POWER_ITERATIONS = 3;
/** NVIDIA's driver tool, there only where the driver is: a system tool, not a package (in a constant, knip leaves it alone). */
const NVIDIA_SMI = 'nvidia-smi';
/** `nvidia-smi -L` answers in well under a second where a driver is loaded. */
const NVIDIA_SMI_TIMEOUT_MS = 30_000;

export interface LoraBenchOptions {
  cli: string;
  runs: number;
  rank: number;
  /** torch as found (its products need an optimized BLAS: see `withOptimizedBlas`), or null. */
  torch: TorchPython | null;
  /** Where to look for an optimized BLAS when torch's is the reference one. */
  blasFolders: readonly string[];
  /** Time one full torch.linalg.svd for the optimum (tens of seconds). */
  fullSvd: boolean;
  scratch: string;
  log: (line: string) => void;
}

export interface LoraRow {
  id: string;
  label: string;
  runs: number;
  seconds: number;
  allSeconds: number[];
  rssMb: number | null;
  gbPerSecond: number;
  ratioToFloor: number | null;
  /** Our time over torch's (q = r + 10, niter 2) and over torch's with our sampling, medians of per-round ratios. */
  ratioToTorch: number | null;
  ratioToTorchSameSampling: number | null;
}

/** What `lora --json` reports of its adapter (the last round's run). */
interface AdapterSummary {
  backend: string;
  matrices: number;
  adapterBytes: number;
  fullResidualBytes: number;
  capturedEnergyShare: number;
  meanRelativeError: number;
  maxRelativeError: number;
}

interface AdapterError {
  way: string;
  matrices: number;
  mean: number;
  max: number;
}

interface FullSvd {
  tensor: string;
  shape: number[];
  seconds: number;
  optimumRelativeError: number;
}

export interface LoraBench {
  rank: number;
  matrices: number;
  inputBytes: number;
  /** The adapter file's size as the dry run plans it: the floor's output. */
  adapterBytes: number;
  rows: LoraRow[];
  ours: AdapterSummary | null;
  /** The GPU row's result: which provider it names. */
  gpu: { line: string; backend: string | null };
  torch: TorchPython | null;
  /** Median seconds torch spent inside svd_lowrank, per torch row. */
  torchSvdSeconds: Record<string, number>;
  errors: AdapterError[];
  fullSvd: FullSvd | null;
  notes: string[];
}

interface LoraCase {
  id: string;
  label: string;
  spec: (out: string) => ProcessSpec;
  /** A CLI run: a fresh digest cache per run (a user's first run), `--json` on stdout. */
  cli: boolean;
  /** Its last round's output is kept for the error measurements. */
  keep: boolean;
  /** Compared with the floor and with torch (ours), or a reference itself. */
  compared: boolean;
}

function runCli(cli: string, args: string[]): string {
  const run = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`checkpoint-surgeon ${args.join(' ')} failed: ${run.stderr.slice(-2000)}`);
  return run.stdout;
}

/** Runs an untimed command and parses the one JSON line it prints. */
function runJson<T>(spec: ProcessSpec): T {
  const run = spawnSync(spec.command, spec.args, { encoding: 'utf8', env: spec.env ?? process.env, maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`${spec.command} ${spec.args.join(' ')} exited ${run.status ?? run.signal}: ${(run.stderr ?? '').slice(-2000)}`);
  return JSON.parse(run.stdout.trim().split('\n').pop() ?? '') as T;
}

type GpuProbe = { found: true; device: string } | { found: false; line: string };

/** An NVIDIA GPU that `nvidia-smi` lists and that onnxruntime-node's CUDA provider starts on; else why not, in one line. */
async function probeGpu(): Promise<GpuProbe> {
  const smi = spawnSync(NVIDIA_SMI, ['-L'], { encoding: 'utf8', timeout: NVIDIA_SMI_TIMEOUT_MS });
  if (smi.error || smi.status !== 0 || !/GPU/.test(smi.stdout ?? '')) {
    const missing = (smi.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
    const why = missing ? 'nvidia-smi is not installed' : smi.error ? smi.error.message : smi.status !== 0 ? `nvidia-smi -L exited ${smi.status ?? smi.signal}` : 'nvidia-smi -L lists none';
    return { found: false, line: `LoRA on a GPU: no GPU found (${why}).` };
  }
  const device = smi.stdout.trim().split('\n')[0]!;
  try {
    const loaded = await loadMatrixBackend('ort');
    await loaded.backend.dispose?.();
    if (!/CUDA/.test(loaded.backend.provider)) return { found: false, line: `LoRA on a GPU: ${device}, but onnxruntime-node's CUDA provider did not start (${loaded.message}).` };
  } catch (error) {
    return { found: false, line: `LoRA on a GPU: ${device}, but onnxruntime-node did not load (${error instanceof Error ? error.message : String(error)}).` };
  }
  return { found: true, device };
}

function blasName(torch: TorchPython): string {
  return torch.blas.includes('/') ? `${basename(dirname(torch.blas))}/${basename(torch.blas)}` : torch.blas;
}

function summarizeAdapter(result: LoraResult): AdapterSummary {
  const errors = result.matrices.map((matrix) => matrix.relativeError);
  return {
    backend: result.backend, matrices: result.matrices.length, adapterBytes: result.adapterBytes, fullResidualBytes: result.fullResidualBytes,
    capturedEnergyShare: result.capturedEnergyShare,
    meanRelativeError: errors.reduce((sum, value) => sum + value, 0) / errors.length, maxRelativeError: Math.max(...errors),
  };
}

/** Times the LoRA rows on the pair in `options.scratch`, removed afterwards (also when a run fails). */
export async function benchLora(pair: SyntheticPair, options: LoraBenchOptions): Promise<LoraBench> {
  mkdirSync(options.scratch, { recursive: true });
  try {
    return await measureLora(pair, options);
  } finally {
    removeQuietly(options.scratch);
  }
}

async function measureLora(pair: SyntheticPair, options: LoraBenchOptions): Promise<LoraBench> {
  const { cli, rank, scratch, log, runs } = options;
  const node = process.execPath;
  const notes: string[] = [];
  const models = [pair.baseFile, pair.instructFile];
  const inputBytes = models.reduce((sum, file) => sum + statSync(file).size, 0);
  const loraArgs = (out: string): string[] => ['lora', '--base', pair.baseDir, '--instruct', pair.instructDir, '--out', out, '--rank', String(rank), '--json'];

  const plan = JSON.parse(runCli(cli, [...loraArgs(join(scratch, 'dry-run')), '--dry-run'])) as DryRunResult;
  const adapterBytes = plan.files.find((file) => file.file === 'adapter_model.safetensors')?.bytes ?? 0;
  const matrices = plan.tensors / 2;

  const gpu = await probeGpu();
  const torch = options.torch ? withOptimizedBlas(options.torch, options.blasFolders) : null;
  if (options.torch && !torch) {
    notes.push(`torch LoRA rows skipped: torch ${options.torch.version} computes its products with the reference BLAS (${options.torch.blas}: `
      + 'unblocked, one thread; torch.svd_lowrank of one 8192 x 4096 delta took 96 s on this VM, against 2.5 s with OpenBLAS), which no one doing '
      + `this work would use, and none of ${options.blasFolders.join(', ')} holds another libblas.so.3. Install libopenblas0-pthread, or without root `
      + '`apt-get download libopenblas0-pthread && dpkg-deb -x libopenblas0-pthread_*.deb .bench/blas`, or name a folder with --torch-blas DIR.');
  }

  const cases: LoraCase[] = FLOOR_WAYS.map((way) => ({
    id: way === 'cached' ? 'floor-lora' : 'floor-lora-direct',
    label: `I/O floor: read base + instruct, write the adapter's size, sync, ${way === 'cached' ? 'through the page cache' : 'around it (O_DIRECT)'}`,
    spec: floorCommand(models, adapterBytes, way), cli: false, keep: false, compared: false,
  }));
  cases.push({ id: 'lora', label: `lora --rank ${rank} (first run: hashes computed; spectra backend auto)`, spec: (out) => ({ command: node, args: [cli, ...loraArgs(out)] }), cli: true, keep: true, compared: true });
  if (gpu.found) {
    cases.push({ id: 'lora-gpu', label: `lora --rank ${rank} --spectra-backend ort (${gpu.device})`, spec: (out) => ({ command: node, args: [cli, ...loraArgs(out), '--spectra-backend', 'ort'] }), cli: true, keep: true, compared: true });
  }
  if (torch) {
    const way = `torch ${torch.version}, ${torch.threads} threads, BLAS ${blasName(torch)}`;
    const oversampling = oursOversampling(rank);
    cases.push(
      { id: 'torch-lora', label: `${way}: f32 delta, torch.svd_lowrank(q = ${rank + TORCH_OVERSAMPLING}, niter = ${TORCH_NITER}), bf16 factors`,
        spec: (out) => torchLoraCommand(torch, rank, pair.baseDir, pair.instructDir, out, TORCH_OVERSAMPLING, TORCH_NITER), cli: false, keep: true, compared: false },
      { id: 'torch-lora-same-sampling', label: `${way}: the same with our sampling, torch.svd_lowrank(q = ${rank + oversampling}, niter = ${OUR_POWER_ITERATIONS})`,
        spec: (out) => torchLoraCommand(torch, rank, pair.baseDir, pair.instructDir, out, oversampling, OUR_POWER_ITERATIONS), cli: false, keep: true, compared: false },
    );
  }

  const measured = new Map<LoraCase, Measurement[]>(cases.map((testCase) => [testCase, []]));
  for (let round = 0; round < runs; round++) {
    log(`  LoRA rank ${rank} warm round ${round + 1} of ${runs}`);
    for (const testCase of cases) {
      const out = join(scratch, `${testCase.id}-${round}`);
      const cache = join(scratch, `digest-cache-${testCase.id}-${round}`);
      warmPageCache(models);
      const spec = testCase.spec(out);
      try {
        measured.get(testCase)!.push(timeProcess(testCase.cli ? { ...spec, env: { ...process.env, CHECKPOINT_SURGEON_CACHE: cache } } : spec));
      } finally {
        if (!(testCase.keep && round === runs - 1)) removeQuietly(out);
        removeQuietly(cache);
      }
      const last = measured.get(testCase)!.at(-1)!;
      log(`  LoRA ${testCase.id.padEnd(26)} ${last.seconds.toFixed(2)} s  RSS ${last.rssMb?.toFixed(0) ?? '-'} MB`);
    }
  }

  const seconds = (id: string): number[] | undefined => [...measured].find(([testCase]) => testCase.id === id)?.[1].map((run) => run.seconds);
  const floors = FLOOR_WAYS.map((way) => seconds(way === 'cached' ? 'floor-lora' : 'floor-lora-direct')!);
  const perRound = (values: number[], references: number[] | undefined): number | null =>
    (references ? median(values.map((value, round) => value / references[round]!)) : null);
  const rows: LoraRow[] = cases.map((testCase) => {
    const summary = summarize(measured.get(testCase)!);
    const isFloor = testCase.id.startsWith('floor-');
    const fasterFloor = floors[0]!.map((value, round) => Math.min(value, floors[1]![round]!));
    return {
      id: testCase.id, label: testCase.label, runs: summary.runs, seconds: summary.seconds, allSeconds: summary.allSeconds, rssMb: summary.rssMb,
      gbPerSecond: inputBytes / 1e9 / summary.seconds,
      ratioToFloor: isFloor ? null : perRound(summary.allSeconds, fasterFloor),
      ratioToTorch: testCase.compared ? perRound(summary.allSeconds, seconds('torch-lora')) : null,
      ratioToTorchSameSampling: testCase.compared ? perRound(summary.allSeconds, seconds('torch-lora-same-sampling')) : null,
    };
  });

  const lastJson = <T>(id: string): T | null => {
    const runsOf = [...measured].find(([testCase]) => testCase.id === id)?.[1];
    const stdout = runsOf?.at(-1)?.stdout;
    return stdout ? (JSON.parse(stdout) as T) : null;
  };
  const oursResult = lastJson<LoraResult>('lora');
  const gpuResult = gpu.found ? lastJson<LoraResult>('lora-gpu') : null;
  const torchSvdSeconds: Record<string, number> = {};
  for (const testCase of cases.filter((candidate) => candidate.id.startsWith('torch-'))) {
    const svd = measured.get(testCase)!.map((run) => (JSON.parse(run.stdout?.trim() || '{}') as { svdSeconds?: number }).svdSeconds ?? NaN);
    torchSvdSeconds[testCase.id] = median(svd);
  }

  // Untimed: each adapter's error measured the same way, by torch (any BLAS will do for 15 products).
  const errors: AdapterError[] = [];
  const measuring = torch ?? options.torch;
  if (measuring) {
    const kept = cases.filter((testCase) => testCase.keep);
    for (const testCase of kept) {
      log(`  LoRA: measuring the error of ${testCase.id}'s adapter (untimed)...`);
      const measuredError = runJson<{ matrices: number; mean: number; max: number }>(
        torchLoraErrorCommand(measuring, pair.baseDir, pair.instructDir, join(scratch, `${testCase.id}-${runs - 1}`)),
      );
      errors.push({ way: testCase.id, matrices: measuredError.matrices, mean: measuredError.mean, max: measuredError.max });
    }
  }
  let fullSvd: FullSvd | null = null;
  if (torch && options.fullSvd) {
    log('  LoRA: one full torch.linalg.svd for the optimum (untimed row)...');
    fullSvd = runJson<FullSvd>(torchFullSvdCommand(torch, rank, pair.baseDir, pair.instructDir));
  }
  const gpuLine = gpu.found
    ? `LoRA on a GPU: ${gpu.device}; the result names ${gpuResult?.backend ?? 'nothing'}${gpuResult && !/CUDA/.test(gpuResult.backend) ? ' (not CUDA: the row ran on the CPU)' : ''}.`
    : gpu.line;
  return {
    rank, matrices, inputBytes, adapterBytes, rows, ours: oursResult ? summarizeAdapter(oursResult) : null,
    gpu: { line: gpuLine, backend: gpuResult?.backend ?? null }, torch, torchSvdSeconds, errors, fullSvd, notes,
  };
}

const fixed = (value: number | null | undefined, digits: number): string => (value === null || value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits));

/** The LoRA section as Markdown lines. */
export function loraLines(bench: LoraBench): string[] {
  const { ours, torch } = bench;
  const lines = [
    `${bench.matrices} matrices of 8192 x 4096, rank ${bench.rank}, bf16 factors (\`--dtype same\`); warm, ${bench.rows[0]?.runs ?? 0} rounds, medians; `
    + '"x floor": time / the faster I/O floor of the round (read both models, write the adapter\'s size, sync); "x torch": our time / torch\'s '
    + '(below 1: faster), medians of per-round ratios. Whole processes; ours a first run (input hashes computed).'
    + (torch ? ` torch ${torch.version} (torch.__version__ of ${torch.python}, python ${torch.pythonVersion}), ${torch.threads} threads, BLAS ${torch.blas}.` : ''),
    '',
    `| row | runs | seconds | GB/s in | peak RSS MB | x floor | x torch (q = r + ${TORCH_OVERSAMPLING}, niter ${TORCH_NITER}) | x torch (our sampling) |`,
    '|---|---|---|---|---|---|---|---|',
    ...bench.rows.map((row) => `| ${row.label} | ${row.runs} | ${row.seconds.toFixed(2)} | ${row.gbPerSecond.toFixed(2)} | ${fixed(row.rssMb, 0)} | `
      + `${fixed(row.ratioToFloor, 2)} | ${fixed(row.ratioToTorch, 2)} | ${fixed(row.ratioToTorchSameSampling, 2)} |`),
    '',
  ];
  if (ours) {
    lines.push(`Ours (\`--json\`): backend ${ours.backend}; adapter ${(ours.adapterBytes / 1e6).toFixed(1)} MB against ${(ours.fullResidualBytes / 1e6).toFixed(1)} MB `
      + `for the full residual in the same dtype (${(100 * ours.adapterBytes / ours.fullResidualBytes).toFixed(2)}%); captured energy ${(100 * ours.capturedEnergyShare).toFixed(2)}%; `
      + `relative error ||Δ − B A||_F / ||Δ||_F mean ${ours.meanRelativeError.toFixed(5)}, largest ${ours.maxRelativeError.toFixed(5)} over ${ours.matrices} matrices.`);
  }
  for (const [id, seconds] of Object.entries(bench.torchSvdSeconds)) lines.push(`${id}: ${fixed(seconds, 2)} s of it inside torch.svd_lowrank (median).`);
  if (bench.errors.length > 0) {
    lines.push(`Errors measured by torch (untimed, the same code for every adapter): ${bench.errors.map((error) => `${error.way} mean ${error.mean.toFixed(5)} (largest ${error.max.toFixed(5)})`).join('; ')}.`);
  }
  if (bench.fullSvd) {
    lines.push(`Full torch.linalg.svd of ${bench.fullSvd.tensor} (${bench.fullSvd.shape.join(' x ')}): ${bench.fullSvd.seconds.toFixed(1)} s for that one matrix `
      + `(about ${(bench.fullSvd.seconds * bench.matrices).toFixed(0)} s for the ${bench.matrices}); the best rank-${bench.rank} error of it (Eckart-Young) is ${bench.fullSvd.optimumRelativeError.toFixed(5)}.`);
  }
  lines.push(bench.gpu.line, ...bench.notes);
  return lines;
}
