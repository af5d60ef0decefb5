/**
 * `npm run bench [-- --gb 1 | --sizes 1,8] [--runs 3] [--cold-runs 3] [--no-cold] [--no-torch] [--no-jobs]
 *                [--no-index] [--no-spectra] [--no-fp8] [--no-lora] [--lora-rank 64] [--torch-blas DIR]
 *                [--spectra-sizes 4096x4096,2048x8192] [--k 64] [--help]`
 *
 * Sizes are GB per model and may be fractions (--gb 0.25: 4 tensors of 64 MiB).
 * Generates synthetic bf16 pairs once under `.bench/pair-v3-<N>gb`, then times whole processes of the
 * built CLI against the I/O floor of each operation in interleaved rounds (every row once a round; ratios
 * are medians of per-round ratios), warm (--runs rounds) and cold (page cache
 * dropped before each run, where /proc/sys/vm/drop_caches is writable), with peak RSS from
 * `/usr/bin/time -v`; the torch baselines when a python with torch is found (each job the fastest reasonable
 * way with torch, `bench/torch_baselines.py`; torch's version as its `torch.__version__` prints it); inspect and the dry
 * run of a sparse Llama-2-70B index; the spectral pass on ONNX Runtime, WebAssembly SIMD and plain JS; the FP8 pair;
 * and the LoRA export of the first pair against its floor and torch.svd_lowrank (bench/lora-runs.ts).
 * Prints markdown tables and PASS/FAIL lines for the issue's targets, and writes
 * `.bench/results.json` plus a timestamped copy.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { ensureLlama70bIndex, type SparseIndex } from './generate-70b-index';
import { ensureSyntheticPair } from './generate-pair';
import { timeIndexOperations, type IndexTimings } from './index-timing';
import { dropCaches } from './measure';
import { benchPair, TORCH_PAIRED_ROWS, type Mode, type PairResult } from './pair-runs';
import { measureSpectralPass, parseMatrixSizes, type SpectralRun } from './spectral-pass';
import { targetChecks, type Check } from './targets';
import { benchFp8Pair } from './fp8-pair';
import { benchLora, loraLines, type LoraBench } from './lora-runs';
import { blasCandidates, findTorchPython, type TorchPython } from './torch-baselines';

const ROOT = resolve(__dirname, '..');
const BENCH_DIR = join(ROOT, '.bench');
const CLI = join(ROOT, 'dist', 'cli.js');

interface Options {
  sizes: number[];
  runs: number;
  coldRuns: number;
  cold: boolean;
  torch: boolean;
  index: boolean;
  spectra: boolean;
  fp8: boolean;
  jobs: boolean;
  lora: boolean;
  loraRank: number;
  torchBlas: string | null;
  spectraSizes: Array<[number, number]>;
  k: number;
}

const USAGE = `usage: npm run bench [-- options], or node --import tsx bench/end-to-end.ts [options]
  --gb N               one pair of about N GB per model (fractions allowed; default 1)
  --sizes N,M          several pairs
  --runs N             warm rounds (default 3)
  --cold-runs N        cold rounds, page cache dropped before each run (default 3; pairs above 2 GB run 1)
  --no-cold            warm rounds only
  --no-torch           skip the torch baselines
  --no-index           skip inspect and the dry run of the Llama-2-70B index
  --no-spectra         skip the spectral pass
  --no-fp8             skip the FP8 pair (compute, apply to BF16, apply --dtype fp8)
  --no-jobs            skip the pairs' compute, apply, verify and diff rows (and their torch rows)
  --no-lora            skip the LoRA export of the first pair (lora --rank, against torch.svd_lowrank)
  --lora-rank N        rank of the LoRA rows (default 64)
  --torch-blas DIR     a folder with an optimized libblas.so.3 for torch's LoRA rows, where torch's own BLAS is the
                       reference one (default: .bench/blas/usr/lib/x86_64-linux-gnu/openblas-pthread, then the system's)
  --spectra-sizes RxC,...  matrices of the spectral pass (default 4096x4096,2048x8192)
  --k N                singular values of the spectral pass (default 64)
  --help               this text`;

function parseArguments(argv: readonly string[]): Options | null {
  const options: Options = {
    sizes: [1], runs: 3, coldRuns: 3, cold: true, torch: true, index: true, spectra: true, fp8: true,
    jobs: true, lora: true, loraRank: 64, torchBlas: null, spectraSizes: [[4096, 4096], [2048, 8192]], k: 64,
  };
  const positive = (flag: string, text: string | undefined): number => {
    const value = Number(text);
    if (!(value > 0)) throw new Error(`${flag} expects a positive number, got ${text}`);
    return value;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--help' || flag === '-h') return null;
    if (flag === '--gb') options.sizes = [positive(flag, argv[++i])];
    else if (flag === '--sizes') options.sizes = (argv[++i] ?? '').split(',').map((size) => positive(flag, size));
    else if (flag === '--runs') options.runs = Math.round(positive(flag, argv[++i]));
    else if (flag === '--cold-runs') options.coldRuns = Math.round(positive(flag, argv[++i]));
    else if (flag === '--no-cold') options.cold = false;
    else if (flag === '--no-torch') options.torch = false;
    else if (flag === '--no-fp8') options.fp8 = false;
    else if (flag === '--no-jobs') options.jobs = false;
    else if (flag === '--no-lora') options.lora = false;
    else if (flag === '--lora-rank') options.loraRank = Math.round(positive(flag, argv[++i]));
    else if (flag === '--torch-blas') options.torchBlas = argv[++i] ?? '';
    else if (flag === '--no-index') options.index = false;
    else if (flag === '--no-spectra') options.spectra = false;
    else if (flag === '--spectra-sizes') options.spectraSizes = parseMatrixSizes(argv[++i] ?? '');
    else if (flag === '--k') options.k = Math.round(positive(flag, argv[++i]));
    else throw new Error(`unknown argument ${flag}`);
  }
  return options;
}

/** Flags the lead is adding to the CLI; their rows are skipped (with a message) until they exist. */
function detectCliFeatures(): { noStats: boolean; dryRun: boolean } {
  const help = spawnSync(process.execPath, [CLI, 'compute', '--help'], { encoding: 'utf8' }).stdout ?? '';
  return { noStats: help.includes('--no-stats'), dryRun: help.includes('--dry-run') };
}

const fixed = (value: number | null, digits: number): string => (value === null || !Number.isFinite(value) ? '-' : value.toFixed(digits));

function printPair(pair: PairResult, torch: TorchPython | null): void {
  console.log(`\n### ${pair.gb} GB pair: 2 x ${(pair.modelBytes / 1e9).toFixed(2)} GB bf16, ${pair.tensorCount} tensors of 8192x4096\n`);
  if (torch) printTorchSummary(pair, torch);
  console.log('| row | mode | runs | seconds | GB/s in | peak RSS MB | x floor | x torch |\n|---|---|---|---|---|---|---|---|');
  for (const row of pair.rows) {
    console.log(`| ${row.label} | ${row.mode} | ${row.runs} | ${row.seconds.toFixed(3)} | ${fixed(row.gbPerSecond, 2)} | ${fixed(row.rssMb, 0)} | ${fixed(row.ratioToFloor, 2)} | ${fixed(row.ratioToTorch, 2)} |`);
  }
  for (const line of pair.skipped) console.log(`\nskipped: ${line}`);
}

/**
 * The five jobs, one row each: our time and the fastest torch way's, each as a ratio to the job's I/O floor, and
 * ours as a ratio to torch's (medians of per-round ratios), warm and cold.
 */
function printTorchSummary(pair: PairResult, torch: TorchPython): void {
  const find = (id: string, mode: Mode) => pair.rows.find((row) => row.id === id && row.mode === mode);
  const startup = find('torch-import', 'warm');
  console.log(`Five jobs against the I/O floor and the fastest torch way: torch ${torch.version} (torch.__version__ of ${torch.python}, `
    + `python ${torch.pythonVersion}), ${torch.threads} threads. "x floor": time / the faster I/O floor of the round; "x torch": our time / torch's `
    + `(below 1: faster than torch); medians over rounds. Ours: first runs (input hashes computed, statistics on). Torch times are whole `
    + `processes${startup ? `, of which python + import torch alone takes ${startup.seconds.toFixed(2)} s` : ''}.\n`);
  const modes: Mode[] = pair.rows.some((row) => row.mode === 'cold') ? ['warm', 'cold'] : ['warm'];
  const header = modes.flatMap((mode) => [`${mode} s, ours / torch`, `${mode} x floor, ours / torch`, `${mode} x torch`]);
  console.log(`| job | ${header.join(' | ')} |\n|---|${header.map(() => '---|').join('')}`);
  for (const paired of TORCH_PAIRED_ROWS) {
    const cells = modes.flatMap((mode) => {
      const ours = find(paired.id, mode);
      const theirs = find(paired.torch, mode);
      return [
        `${fixed(ours?.seconds ?? null, 2)} / ${fixed(theirs?.seconds ?? null, 2)}`,
        `${fixed(ours?.ratioToFloor ?? null, 2)} / ${fixed(theirs?.ratioToFloor ?? null, 2)}`,
        fixed(ours?.ratioToTorch ?? null, 2),
      ];
    });
    console.log(`| ${paired.job} | ${cells.join(' | ')} |`);
  }
  console.log('');
}

function printIndex(index: SparseIndex, timings: IndexTimings): void {
  console.log(`\n### Llama-2-70B layout: ${index.shards} sparse shards, ${timings.inspectInProcess.tensors} tensors, `
    + `${(index.parameters / 1e9).toFixed(2)} B parameters, ${(index.bytes / 1e9).toFixed(1)} GB\n`);
  console.log('| row | runs | ms | peak RSS MB |\n|---|---|---|---|');
  console.log(`| node -e 0 (start-up alone) | ${timings.nodeStartup.runs} | ${(timings.nodeStartup.seconds * 1000).toFixed(1)} | ${fixed(timings.nodeStartup.rssMb, 0)} |`);
  console.log(`| inspect --json, whole process | ${timings.inspectProcess.runs} | ${(timings.inspectProcess.seconds * 1000).toFixed(1)} | ${fixed(timings.inspectProcess.rssMb, 0)} |`);
  console.log(`| inspect, in-process (first call ${(timings.inspectInProcess.firstSeconds * 1000).toFixed(1)} ms) | ${timings.inspectInProcess.runs} | ${(timings.inspectInProcess.seconds * 1000).toFixed(1)} | - |`);
  if (timings.dryRunProcess) {
    console.log(`| compute --dry-run (base index against an instruct index with 16 more tokens), whole process | ${timings.dryRunProcess.runs} | ${(timings.dryRunProcess.seconds * 1000).toFixed(1)} | ${fixed(timings.dryRunProcess.rssMb, 0)} |`);
  }
}

function printSpectral(run: SpectralRun): void {
  console.log(`\n### Spectral pass (${run.ortMessage})\n`);
  console.log('| matrix | k | backend | seconds | of which products | GFLOP/s in products | max abs(ds)/s1 vs first |\n|---|---|---|---|---|---|---|');
  for (const row of run.rows) {
    console.log(`| ${row.rows}x${row.cols} | ${row.k} | ${row.provider} | ${row.seconds.toFixed(2)} | ${row.productSeconds.toFixed(2)} | ${row.gflopsInProducts.toFixed(1)} | ${row.maxRelativeDeviation.toExponential(1)} |`);
  }
}

function printChecks(checks: readonly Check[]): void {
  console.log('\n### Targets\n');
  for (const check of checks) console.log(`${check.pass ? 'PASS' : 'FAIL'}  ${check.name}: ${check.value} (target ${check.target})`);
}

async function main(): Promise<void> {
  const options = parseArguments(process.argv.slice(2));
  if (!options) {
    console.log(USAGE);
    return;
  }
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`node scripts/build.mjs\` (npm run bench does)`);
  mkdirSync(BENCH_DIR, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const notes: string[] = [];
  const log = (line: string): void => console.error(line);

  const features = detectCliFeatures();
  const cold = options.cold && dropCaches();
  if (options.cold && !cold) notes.push('cold rows skipped: /proc/sys/vm/drop_caches is not writable (run as root to drop the page cache)');
  const torch = options.torch ? findTorchPython() : null;
  if (options.torch && !torch) notes.push('torch baselines skipped: install python3-torch (neither python3 nor /usr/bin/python3 runs bench/torch_baselines.py version)');
  if (!features.dryRun) notes.push('compute --dry-run row skipped: the CLI has no --dry-run flag');

  const pairs: PairResult[] = [];
  for (const gb of options.jobs ? options.sizes : []) {
    const pair = ensureSyntheticPair(BENCH_DIR, gb);
    pairs.push(benchPair(pair, {
      cli: CLI, runs: options.runs, coldRuns: options.coldRuns, cold, hasNoStats: features.noStats, torch,
      scratch: join(BENCH_DIR, `run-${stamp}-${gb}gb`), log,
    }));
  }

  let lora: LoraBench | null = null;
  if (options.lora) {
    log('timing the LoRA export...');
    const pair = ensureSyntheticPair(BENCH_DIR, options.sizes[0] ?? 1);
    lora = await benchLora(pair, {
      cli: CLI, runs: options.runs, rank: options.loraRank, torch,
      blasFolders: options.torchBlas !== null ? [resolve(options.torchBlas)] : blasCandidates(BENCH_DIR), fullSvd: true,
      scratch: join(BENCH_DIR, `run-${stamp}-lora`), log,
    });
  }

  let fp8: string[] | null = null;
  if (options.fp8) {
    log('timing the FP8 pair...');
    fp8 = benchFp8Pair(options.sizes[0] ?? 1, options.runs, log);
  }

  let index: { layout: SparseIndex; timings: IndexTimings } | null = null;
  if (options.index) {
    const layout = ensureLlama70bIndex(BENCH_DIR);
    log('timing inspect of the 70 B index...');
    const instruct = ensureLlama70bIndex(BENCH_DIR, 'instruct');
    index = { layout, timings: await timeIndexOperations(CLI, layout.dir, instruct.dir, join(BENCH_DIR, `run-${stamp}-index`), features.dryRun) };
  }

  let spectral: SpectralRun | null = null;
  if (options.spectra) {
    log('timing the spectral pass...');
    spectral = await measureSpectralPass(options.spectraSizes, options.k);
    if (!spectral.rows.some((row) => row.backend === 'onnxruntime-node')) notes.push(`spectral pass on ONNX Runtime skipped: ${spectral.ortMessage}`);
  }

  const checks = targetChecks(pairs, index?.timings ?? null);
  console.log(`\n## npm run bench, ${new Date().toISOString()}: ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`
    + `${torch ? `, torch ${torch.version} (torch.__version__ of ${torch.python}, ${torch.threads} threads)` : ''}`);
  console.log('Rounds run every row once; seconds are medians over rounds, "x floor" the median of each round\'s ratio to the faster of that round\'s two floors '
    + '(through the page cache: cat and dd, then fdatasync; around it: dd iflag=direct and oflag=direct). '
    + 'Warm: inputs read just before each run. Cold: page cache dropped before each run. '
    + 'Whole processes, outputs fdatasync\'ed; "first run" = empty input-hash cache, "hashes cached" = primed one.');
  for (const pair of pairs) printPair(pair, torch);
  if (lora) console.log(['', `### LoRA export (lora --rank ${lora.rank}), ${options.sizes[0] ?? 1} GB pair`, '', ...loraLines(lora)].join('\n'));
  if (fp8) console.log(['', '### FP8 (DeepSeek layout: E4M3 weights, 128 x 128 block scales)', ...fp8].join('\n'));
  if (index) printIndex(index.layout, index.timings);
  if (spectral) printSpectral(spectral);
  printChecks(checks);
  for (const note of notes) console.log(`\n${note}`);

  const results = {
    date: new Date().toISOString(),
    machine: { cores: cpus().length, memoryBytes: totalmem(), node: process.version },
    options, cliFeatures: features, cold, torch, notes, pairs, lora, fp8,
    index: index ? { ...index.layout, ...index.timings } : null,
    spectral, checks,
  };
  const file = join(BENCH_DIR, 'results.json');
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  copyFileSync(file, join(BENCH_DIR, `results-${stamp}.json`));
  console.log(`\nwrote ${file} and results-${stamp}.json`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
