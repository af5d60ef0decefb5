/**
 * The timed rows of one synthetic pair: I/O floors, the CLI's compute / apply / verify / diff, and
 * the torch baselines (each job the fastest reasonable way with torch), each warm and (where caches can
 * be dropped) cold. Outputs get fresh names per run and are deleted outside the timed part.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import type { SyntheticPair } from './generate-pair';
import { dropCaches, median, removeQuietly, summarize, timeProcess, warmPageCache, type Measurement, type ProcessSpec } from './measure';
import {
  torchApplyCommand, torchComputeCommand, torchImportCommand, torchResidualsPackageCommand, torchVerifyCommand, type TorchPython,
} from './torch-baselines';

/** The `residuals` package's formulation holds both models in fp32 plus the fp32 deltas (~7x one bf16 model at its peak). */
const RESIDUALS_PACKAGE_MEMORY_FACTOR = 7;
/** Leave room for the page cache and everybody else on the machine. */
const RESIDUALS_PACKAGE_MEMORY_SHARE = 0.8;

/**
 * The five jobs of the summary table, each with its fastest torch way: the CLI row (first run: input hashes
 * computed, as a user's first run) and the torch row doing the same work.
 */
export const TORCH_PAIRED_ROWS: ReadonlyArray<{ id: string; torch: string; job: string }> = [
  { id: 'compute-f32', torch: 'torch-compute-f32', job: 'compute, f32 residual (the default `auto` for bf16 models)' },
  { id: 'compute', torch: 'torch-compute', job: 'compute, bf16 residual (`--dtype same`)' },
  { id: 'apply-f32', torch: 'torch-apply-f32', job: 'apply f32 residual' },
  { id: 'apply', torch: 'torch-apply', job: 'apply bf16 residual' },
  { id: 'verify', torch: 'torch-verify', job: 'verify f32 residual, bit for bit' },
];
/** Cold runs of pairs above this many GB per model run once: each drops and rereads every input. */
const LARGE_PAIR_GB = 2;

export type Mode = 'warm' | 'cold';

export interface RowResult {
  id: string;
  label: string;
  mode: Mode;
  runs: number;
  seconds: number;
  allSeconds: number[];
  inputBytes: number;
  gbPerSecond: number | null;
  rssMb: number | null;
  floor: string | null;
  ratioToFloor: number | null;
  /** The torch row doing the same work, and the median of the per-round ratios of this row's time to it. */
  torch: string | null;
  ratioToTorch: number | null;
}

export interface PairRunOptions {
  cli: string;
  runs: number;
  coldRuns: number;
  cold: boolean;
  hasNoStats: boolean;
  torch: TorchPython | null;
  scratch: string;
  log: (line: string) => void;
}

export interface PairResult {
  gb: number;
  modelBytes: number;
  tensorCount: number;
  rows: RowResult[];
  skipped: string[];
}

interface Case {
  id: string;
  label: string;
  /** Files read; their total is the "GB/s of input" numerator and what warm runs pre-read. */
  inputs: string[];
  /** The floor row this one is compared with (null: a floor itself, or nothing comparable). */
  floor: string | null;
  /** The torch row doing the same work the fastest reasonable way, where there is one. */
  torch?: string;
  /** A fresh digest cache per run ("first run"), a primed one ("hashes cached"), or none needed. */
  digestCache: 'fresh' | 'primed' | 'none';
  command: (out: string) => ProcessSpec;
  coldToo: boolean;
}

function safetensorsFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.endsWith('.safetensors')).sort().map((name) => join(dir, name));
}

function totalBytes(files: readonly string[]): number {
  return files.reduce((sum, file) => sum + statSync(file).size, 0);
}

/** Output is written in pieces of this size, as the CLI writes (dd with it beat `head -c` by ~40% here). */
const FLOOR_WRITE_BLOCK = '1M';
/** Direct reads in pieces this large: `dd iflag=direct` read fastest with them here. */
const FLOOR_DIRECT_READ_BLOCK = '4M';

/**
 * A floor comes two ways, each timed every round, and a row is compared with the faster of the round:
 * `cached` reads the inputs with `cat` and writes with `dd` through the page cache then `fdatasync`;
 * `direct` reads and writes around the page cache with `dd iflag=direct` / `oflag=direct`. Which is
 * faster depends on the cache and on the machine (on this VM, cold reads through the cache ran at a
 * third of the disk's speed); the CLI picks per file, so its floor is the better of the two.
 */
type FloorWay = 'cached' | 'direct';
export const FLOOR_WAYS: readonly FloorWay[] = ['cached', 'direct'];

/** The id of a floor row timed the given way. */
function floorId(floor: string, way: FloorWay): string {
  return way === 'cached' ? floor : `${floor}-direct`;
}

/** Reads the inputs, writes a file of the output's size and fdatasyncs it: what any tool must at least do. */
export function floorCommand(inputs: readonly string[], outputBytes: number, way: FloorWay): (out: string) => ProcessSpec {
  const quoted = inputs.map((file) => `'${file}'`);
  const read = way === 'cached'
    ? `cat ${quoted.join(' ')} > /dev/null`
    : quoted.map((file) => `dd if=${file} of=/dev/null bs=${FLOOR_DIRECT_READ_BLOCK} iflag=direct status=none`).join(' && ');
  // GNU dd writes a last partial block with O_DIRECT turned off.
  const write = (out: string): string => `dd if=/dev/zero of='${out}' bs=${FLOOR_WRITE_BLOCK} count=${outputBytes} iflag=count_bytes`
    + ` ${way === 'direct' ? 'oflag=direct ' : ''}conv=fdatasync status=none`;
  return (out) => ({ command: 'bash', args: ['-c', outputBytes > 0 ? `${read} && ${write(out)}` : read] });
}

/** The floor rows of one operation, one per way. */
function floorCases(id: string, label: string, inputs: string[], outputBytes: number, coldToo: boolean): Case[] {
  return FLOOR_WAYS.map((way) => ({
    id: floorId(id, way), label: `I/O floor: ${label}, ${way === 'cached' ? 'through the page cache' : 'around it (O_DIRECT)'}`,
    inputs, floor: null, digestCache: 'none' as const, command: floorCommand(inputs, outputBytes, way), coldToo,
  }));
}

function runCli(cli: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  const run = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`checkpoint-surgeon ${args.join(' ')} failed: ${run.stderr.slice(-2000)}`);
}

/**
 * Makes the residuals apply and verify read (untimed; the bf16 one also primes the digest cache)
 * and returns every row to time, in table order.
 */
function prepareCases(pair: SyntheticPair, options: PairRunOptions, primedCache: string, skipped: string[]): Case[] {
  const { cli, scratch, log } = options;
  const node = process.execPath;
  const withCache = (dir: string): NodeJS.ProcessEnv => ({ ...process.env, CHECKPOINT_SURGEON_CACHE: dir });

  const residualBf16 = join(scratch, 'residual-bf16');
  const residualF32 = join(scratch, 'residual-f32');
  log(`${pair.gb} GB: computing the bf16 and f32 residuals for apply and verify (untimed)...`);
  runCli(cli, ['compute', '--base', pair.baseDir, '--instruct', pair.instructDir, '--out', residualBf16, '--dtype', 'same'], withCache(primedCache));
  runCli(cli, ['compute', '--base', pair.baseDir, '--instruct', pair.instructDir, '--out', residualF32, '--dtype', 'f32'], withCache(join(scratch, 'digest-cache-f32')));
  const primingOut = join(scratch, 'apply-priming');
  runCli(cli, ['apply', '--base', pair.baseDir, '--residual', residualBf16, '--out', primingOut], withCache(primedCache));
  removeQuietly(primingOut);

  const models = [pair.baseFile, pair.instructFile];
  const bf16Files = safetensorsFiles(residualBf16);
  const f32Files = safetensorsFiles(residualF32);
  const bf16Bytes = totalBytes(bf16Files);
  const f32Bytes = totalBytes(f32Files);
  const compute = (extra: string[]) => (out: string): ProcessSpec => ({
    command: node, args: [cli, 'compute', '--base', pair.baseDir, '--instruct', pair.instructDir, '--out', out, ...extra],
  });
  const apply = (residual: string) => (out: string): ProcessSpec => ({
    command: node, args: [cli, 'apply', '--base', pair.baseDir, '--residual', residual, '--out', out],
  });

  const cases: Case[] = [
    ...floorCases('floor-compute', 'compute (read base + instruct, write bf16 residual size, sync)', models, bf16Bytes, true),
    ...floorCases('floor-compute-f32', 'compute f32 (read base + instruct, write f32 residual size, sync)', models, f32Bytes, true),
    ...floorCases('floor-apply', 'apply (read base + bf16 residual, write model size, sync)', [pair.baseFile, ...bf16Files], pair.modelBytes, true),
    ...floorCases('floor-apply-f32', 'apply f32 (read base + f32 residual, write model size, sync)', [pair.baseFile, ...f32Files], pair.modelBytes, true),
    ...floorCases('floor-verify', 'verify (read base + f32 residual + instruct)', [pair.baseFile, ...f32Files, pair.instructFile], 0, true),
    ...floorCases('floor-diff', 'diff (read base + instruct)', models, 0, true),
  ];
  if (options.hasNoStats) {
    cases.push({ id: 'compute-no-stats', label: 'compute --no-stats (bf16, first run)', inputs: models, floor: 'floor-compute', digestCache: 'fresh', command: compute(['--dtype', 'same', '--no-stats']), coldToo: true });
  } else {
    skipped.push('compute --no-stats: the CLI has no --no-stats flag');
  }
  cases.push(
    { id: 'compute', label: 'compute with statistics (bf16, first run: hashes computed)', inputs: models, floor: 'floor-compute', digestCache: 'fresh', command: compute(['--dtype', 'same']), coldToo: true },
    { id: 'compute-cached', label: 'compute with statistics (bf16, input hashes cached)', inputs: models, floor: 'floor-compute', digestCache: 'primed', command: compute(['--dtype', 'same']), coldToo: true },
    { id: 'compute-f32', label: 'compute with statistics (--dtype f32, first run)', inputs: models, floor: 'floor-compute-f32', digestCache: 'fresh', command: compute(['--dtype', 'f32']), coldToo: true },
    { id: 'apply', label: 'apply bf16 residual (first run: hashes computed)', inputs: [pair.baseFile, ...bf16Files], floor: 'floor-apply', digestCache: 'fresh', command: apply(residualBf16), coldToo: true },
    { id: 'apply-cached', label: 'apply bf16 residual (input hashes cached)', inputs: [pair.baseFile, ...bf16Files], floor: 'floor-apply', digestCache: 'primed', command: apply(residualBf16), coldToo: true },
    { id: 'apply-f32', label: 'apply f32 residual (first run)', inputs: [pair.baseFile, ...f32Files], floor: 'floor-apply-f32', digestCache: 'fresh', command: apply(residualF32), coldToo: true },
    { id: 'verify', label: 'verify f32 residual, bit for bit', inputs: [pair.baseFile, ...f32Files, pair.instructFile], floor: 'floor-verify', digestCache: 'fresh', command: () => ({ command: node, args: [cli, 'verify', '--base', pair.baseDir, '--residual', residualF32, '--instruct', pair.instructDir] }), coldToo: true },
    { id: 'diff', label: 'diff (statistics only, no output)', inputs: models, floor: 'floor-diff', digestCache: 'fresh', command: () => ({ command: node, args: [cli, 'diff', pair.baseDir, pair.instructDir, '--json'] }), coldToo: true },
  );
  if (options.torch) {
    const torch = options.torch;
    const way = `torch ${torch.version}, ${torch.threads} threads`;
    cases.push(
      { id: 'torch-import', label: `python + import torch ${torch.version} only (start-up share of every torch row)`, inputs: [], floor: null, digestCache: 'none', command: () => torchImportCommand(torch), coldToo: false },
      { id: 'torch-compute-f32', label: `${way}: compute f32 residual (inputs widened into preallocated f32, torch.sub in place)`, inputs: models, floor: 'floor-compute-f32', digestCache: 'none', command: (out) => torchComputeCommand(torch, 'f32', pair.baseFile, pair.instructFile, out), coldToo: true },
      { id: 'torch-compute', label: `${way}: compute bf16 residual (torch.sub(b, a, out=o))`, inputs: models, floor: 'floor-compute', digestCache: 'none', command: (out) => torchComputeCommand(torch, 'same', pair.baseFile, pair.instructFile, out), coldToo: true },
      { id: 'torch-apply-f32', label: `${way}: apply f32 residual (base widened into preallocated f32, torch.add, narrowed)`, inputs: [pair.baseFile, ...f32Files], floor: 'floor-apply-f32', digestCache: 'none', command: (out) => torchApplyCommand(torch, pair.baseFile, residualF32, out), coldToo: true },
      { id: 'torch-apply', label: `${way}: apply bf16 residual (torch.add(c, r, out=o))`, inputs: [pair.baseFile, ...bf16Files], floor: 'floor-apply', digestCache: 'none', command: (out) => torchApplyCommand(torch, pair.baseFile, residualBf16, out), coldToo: true },
      { id: 'torch-verify', label: `${way}: verify f32 residual, bit for bit (apply into a buffer, torch.ne of the bits)`, inputs: [pair.baseFile, ...f32Files, pair.instructFile], floor: 'floor-verify', digestCache: 'none', command: () => torchVerifyCommand(torch, pair.baseFile, residualF32, pair.instructFile), coldToo: true },
    );
    const needed = RESIDUALS_PACKAGE_MEMORY_FACTOR * pair.modelBytes;
    if (needed <= RESIDUALS_PACKAGE_MEMORY_SHARE * totalmem()) {
      cases.push({ id: 'torch-residuals-package', label: `${way}: the \`residuals\` package's formulation, not a fastest way (both models as fp32 state dicts, dict of fp32 deltas, f32 out; without its transformers loading)`, inputs: models, floor: 'floor-compute-f32', digestCache: 'none', command: (out) => torchResidualsPackageCommand(torch, pair.baseFile, pair.instructFile, out), coldToo: false });
    } else {
      skipped.push(`torch, the residuals package's formulation: needs ~${(needed / 1e9).toFixed(0)} GB of memory, the machine has ${(totalmem() / 1e9).toFixed(0)} GB`);
    }
    for (const paired of TORCH_PAIRED_ROWS) {
      const row = cases.find((testCase) => testCase.id === paired.id);
      if (row) row.torch = paired.torch;
    }
  }
  return cases;
}

/**
 * Times every case in rounds: each round runs every case once, so a floor and the rows compared with it
 * run minutes apart at most, under the same disk and host load (this kind of virtual machine's disk
 * speed drifts by 2x within minutes). A row's ratio to its floor is the median of its per-round ratios.
 */
function measurePair(pair: SyntheticPair, options: PairRunOptions): PairResult {
  const { scratch, log } = options;
  const skipped: string[] = [];
  const primedCache = join(scratch, 'digest-cache-primed');
  const cases = prepareCases(pair, options, primedCache, skipped);
  const rows: RowResult[] = [];
  const coldRuns = pair.gb > LARGE_PAIR_GB ? 1 : options.coldRuns;
  for (const mode of options.cold ? (['warm', 'cold'] as const) : (['warm'] as const)) {
    const modeCases = cases.filter((testCase) => mode === 'warm' || testCase.coldToo);
    const runs = mode === 'warm' ? options.runs : coldRuns;
    const measured = new Map<Case, Measurement[]>(modeCases.map((testCase) => [testCase, []]));
    for (let round = 0; round < runs; round++) {
      log(`  ${pair.gb} GB ${mode} round ${round + 1} of ${runs}`);
      for (const testCase of modeCases) measured.get(testCase)!.push(runCase(testCase, mode, round, scratch, primedCache));
    }
    for (const testCase of modeCases) {
      const { seconds, allSeconds, rssMb } = summarize(measured.get(testCase)!);
      const inputBytes = totalBytes(testCase.inputs);
      rows.push({
        id: testCase.id, label: testCase.label, mode, runs, seconds, allSeconds,
        inputBytes, gbPerSecond: inputBytes > 0 ? inputBytes / 1e9 / seconds : null, rssMb,
        floor: testCase.floor, ratioToFloor: null, torch: testCase.torch ?? null, ratioToTorch: null,
      });
      log(`  ${pair.gb} GB ${mode.padEnd(4)} ${testCase.id.padEnd(24)} ${seconds.toFixed(3)} s  [${allSeconds.map((value) => value.toFixed(2)).join(', ')}]`
        + `  RSS ${rssMb?.toFixed(0) ?? '-'} MB`);
    }
  }
  for (const row of rows) {
    const floors = FLOOR_WAYS.flatMap((way) => rows.filter((candidate) => row.floor !== null && candidate.id === floorId(row.floor, way) && candidate.mode === row.mode));
    if (floors.length === 0) continue;
    row.ratioToFloor = median(row.allSeconds.map((value, round) => value / Math.min(...floors.map((floor) => floor.allSeconds[round]!))));
  }
  for (const row of rows) {
    const torch = rows.find((candidate) => row.torch !== null && candidate.id === row.torch && candidate.mode === row.mode);
    if (torch) row.ratioToTorch = median(row.allSeconds.map((value, round) => value / torch.allSeconds[round]!));
  }
  return { gb: pair.gb, modelBytes: pair.modelBytes, tensorCount: pair.tensorCount, rows, skipped };
}

/** One timed run of a case, from a warm or a dropped page cache; its output and fresh digest cache are removed after. */
function runCase(testCase: Case, mode: Mode, round: number, scratch: string, primedCache: string): Measurement {
  const outPath = join(scratch, `${testCase.id}-${mode}-${round}`);
  const cachePath = testCase.digestCache === 'primed' ? primedCache : join(scratch, `digest-cache-${testCase.id}-${mode}-${round}`);
  if (mode === 'cold') dropCaches();
  else warmPageCache(testCase.inputs);
  try {
    const spec = testCase.command(outPath);
    return timeProcess(testCase.digestCache === 'none' ? spec : { ...spec, env: { ...(spec.env ?? process.env), CHECKPOINT_SURGEON_CACHE: cachePath } });
  } finally {
    removeQuietly(outPath);
    if (testCase.digestCache === 'fresh') removeQuietly(cachePath);
  }
}

/** Times every row of the pair in a scratch folder that is removed afterwards, also when a run fails. */
export function benchPair(pair: SyntheticPair, options: PairRunOptions): PairResult {
  mkdirSync(options.scratch, { recursive: true });
  try {
    return measurePair(pair, options);
  } finally {
    // Outputs of a failed run must not pile up: each is the size of a model.
    removeQuietly(options.scratch);
  }
}
