/**
 * `npm run bench [-- --gb 2]`: generates a synthetic bf16 pair of the given size, then times whole
 * processes of the built CLI against the I/O floor (read both inputs, write one output, sync), with
 * peak RSS from `/usr/bin/time -v`. Torch baselines run when python3 can import torch. Output file
 * names are fresh per run (deleting multi-GB files is slow on this disk) and removed after timing.
 * Results: a table on stdout and `.bench/results.json`.
 */
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const BENCH = join(ROOT, '.bench');
const CLI = join(ROOT, 'dist', 'cli.js');
const TENSOR_BYTES = 64 * 1024 * 1024;

const gb = Number(process.argv[process.argv.indexOf('--gb') + 1] ?? 1) || 1;

function writeSyntheticCheckpoint(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'model.safetensors');
  if (existsSync(file)) return file;
  const count = Math.max(1, Math.round((gb * 1e9) / TENSOR_BYTES));
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  for (let index = 0; index < count; index++) {
    header[`model.layers.${index}.mlp.up_proj.weight`] = { dtype: 'BF16', shape: [8192, 4096], data_offsets: [index * TENSOR_BYTES, (index + 1) * TENSOR_BYTES] };
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const fd = openSync(file, 'w');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  writeSync(fd, prefix);
  writeSync(fd, json);
  const data = Buffer.alloc(TENSOR_BYTES);
  for (let index = 0; index < count; index++) {
    randomFillSync(data);
    // Exponents within a narrow band (|x| in [2^-8, 2^-4)), like real weights: finite, and the f32
    // difference of two such bf16 values is exact, so the f32 residual verifies bit for bit.
    for (let byte = 1; byte < data.length; byte += 2) data[byte] = (data[byte]! & 0x81) | 0x3c;
    writeSync(fd, data);
  }
  closeSync(fd);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', hidden_size: 4096, num_hidden_layers: count }));
  return file;
}

interface Measurement { name: string; seconds: number; rssMb: number | null }

function timed(name: string, command: string[], cleanup?: string): Measurement {
  const run = spawnSync('/usr/bin/time', ['-v', ...command], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`${name} failed: ${run.stderr.slice(-2000)}`);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(run.stderr);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(run.stderr);
  const seconds = wall ? Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]) : NaN;
  if (cleanup) rmSync(cleanup, { recursive: true, force: true });
  return { name, seconds, rssMb: rss ? Number(rss[1]) / 1024 : null };
}

function median(name: string, runs: number, make: (index: number) => Measurement): Measurement {
  const results = Array.from({ length: runs }, (_, index) => make(index)).sort((x, y) => x.seconds - y.seconds);
  return { ...results[Math.floor(runs / 2)]!, name };
}

const a = writeSyntheticCheckpoint(join(BENCH, `pair-${gb}gb`, 'base'));
const b = writeSyntheticCheckpoint(join(BENCH, `pair-${gb}gb`, 'instruct'));
const baseDir = join(BENCH, `pair-${gb}gb`, 'base');
const instructDir = join(BENCH, `pair-${gb}gb`, 'instruct');
const inputBytes = 2 * gb * 1e9;
const stamp = Date.now();
const out = (label: string, index: number): string => join(BENCH, `out-${stamp}-${label}-${index}`);
const RUNS = 3;

const measurements: Measurement[] = [
  median('I/O floor (cat both inputs, write one output, sync)', RUNS, (index) => timed('floor', ['bash', '-c',
    `cat ${a} ${b} > /dev/null && cat ${b} > ${out('floor', index)} && sync -d ${out('floor', index)}`], out('floor', index))),
  median('diff (statistics only)', RUNS, () => timed('diff', [process.execPath, CLI, 'diff', baseDir, instructDir, '--json'])),
  median('compute (statistics + SHA-256 provenance)', RUNS, (index) => timed('compute', [process.execPath, CLI, 'compute', '--base', baseDir, '--instruct', instructDir, '--out', out('compute', index)], out('compute', index))),
];
const residual = out('residual', 0);
spawnSync(process.execPath, [CLI, 'compute', '--base', baseDir, '--instruct', instructDir, '--out', residual, '--dtype', 'f32'], { stdio: 'ignore' });
measurements.push(
  median('apply (f32 residual onto bf16)', RUNS, (index) => timed('apply', [process.execPath, CLI, 'apply', '--base', baseDir, '--residual', residual, '--out', out('apply', index)], out('apply', index))),
  median('verify (f32 residual, bit for bit)', RUNS, () => timed('verify', [process.execPath, CLI, 'verify', '--base', baseDir, '--residual', residual, '--instruct', instructDir])),
);
rmSync(residual, { recursive: true, force: true });

const torch = spawnSync('python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
if (torch) {
  const script = join(BENCH, 'torch_baseline.py');
  writeFileSync(script, `import sys, torch
from safetensors.torch import safe_open, save_file
a, b, o = sys.argv[1:4]
out = {}
with safe_open(a, 'pt') as fa, safe_open(b, 'pt') as fb:
    for k in fa.keys():
        out[k] = (fb.get_tensor(k).float() - fa.get_tensor(k).float()).to(torch.bfloat16)
save_file(out, o)
`);
  measurements.push(median('torch tensor by tensor', RUNS, (index) => timed('torch', ['python3', script, a, b, `${out('torch', index)}.safetensors`], `${out('torch', index)}.safetensors`)));
}

const floor = measurements[0]!.seconds;
const rows = measurements.map((m) => ({ ...m, gbPerSecond: inputBytes / 1e9 / m.seconds, ratioToFloor: m.seconds / floor }));
console.log(`\n${gb} GB bf16 pair (${(inputBytes / 1e9).toFixed(2)} GB in), median of ${RUNS}, warm page cache${torch ? '' : '; torch not installed, baselines skipped'}\n`);
console.log('| run | seconds | GB/s in | peak RSS MB | x floor |\n|---|---|---|---|---|');
for (const row of rows) {
  console.log(`| ${row.name} | ${row.seconds.toFixed(2)} | ${row.gbPerSecond.toFixed(2)} | ${row.rssMb?.toFixed(0) ?? '-'} | ${row.ratioToFloor.toFixed(2)} |`);
}
writeFileSync(join(BENCH, 'results.json'), `${JSON.stringify({ gb, runs: RUNS, date: new Date().toISOString(), rows }, null, 2)}\n`);
