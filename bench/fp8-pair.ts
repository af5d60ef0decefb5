/**
 * The FP8 rows (docs/fp8.md): a synthetic DeepSeek-layout pair (F8_E4M3 weights of 4096 x 4000, so the last block
 * column is partial, with F32 `weight_scale_inv` blocks of 128 x 128) of about `--gb` GB per model, generated once
 * under `.bench/fp8-pair-v1-<N>gb`, and the CLI's compute (auto: F32 residual), apply (default: BF16 output) and
 * apply --dtype fp8 (re-quantized output) on it, warm, each as a multiple of its I/O floor (read the inputs with
 * `cat`, write a file of the output's size with `dd` and fdatasync it).
 *
 * `npm run bench` prints these rows too (`--no-fp8` leaves them out); alone:
 *
 *   node scripts/build.mjs && npx tsx bench/fp8-pair.ts [--gb 1] [--runs 3]
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { blockQuantizationConfig, blockScaleName, blockScaleShape } from '../src/engine/checkpoint/fp8-scales';
import { encodeSafetensorsHeader, orderForWriting, type PlannedTensor } from '../src/engine/format/safetensors-writer';
import { quantizeE4m3BlocksBytes } from '../src/engine/kernels/js-fp8';
import { BASE_STD, INSTRUCT_RELATIVE_CHANGE, uniforms } from './generate-pair';
import { median, removeQuietly, timeProcess, warmPageCache, type Measurement, type ProcessSpec } from './measure';

const ROOT = join(__dirname, '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const ROWS = 4096;
const COLUMNS = 4000;

interface Fp8Pair {
  baseDir: string;
  instructDir: string;
  count: number;
}

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

function plannedTensors(count: number): PlannedTensor[] {
  const scaleShape = blockScaleShape(ROWS, COLUMNS);
  return orderForWriting(Array.from({ length: count }, (_, index) => {
    const name = `model.layers.${index}.mlp.up_proj.weight`;
    return [
      { name, dtype: 'F8_E4M3' as const, shape: [ROWS, COLUMNS] },
      { name: blockScaleName(name), dtype: 'F32' as const, shape: scaleShape },
    ];
  }).flat());
}

/**
 * Writes both models: each weight quantized from normal values (base) and from them changed a little (instruct). The
 * reference order puts every F32 scale before the F8 weights, so each part is written at its offset.
 */
function writePair(pair: Fp8Pair): void {
  const tensors = plannedTensors(pair.count);
  const encoded = encodeSafetensorsHeader(tensors, { format: 'pt' });
  const header = Buffer.from(encoded.bytes);
  const position = new Map(tensors.map((tensor, index) => [tensor.name, header.byteLength + encoded.offsets[index]![0]]));
  const [scaleRows, scaleColumns] = blockScaleShape(ROWS, COLUMNS);
  const random = uniforms(0xf8);
  const files = [pair.baseDir, pair.instructDir].map((dir) => {
    mkdirSync(dir, { recursive: true });
    return join(dir, 'model.safetensors');
  });
  const fds = files.map((file) => openSync(`${file}.partial`, 'w'));
  try {
    for (const fd of fds) writeSync(fd, header, 0, header.byteLength, 0);
    const base = new Float32Array(ROWS * COLUMNS);
    const instruct = new Float32Array(ROWS * COLUMNS);
    const bytes = new Uint8Array(ROWS * COLUMNS);
    const scales = new Uint8Array(scaleRows * scaleColumns * 4);
    for (let index = 0; index < pair.count; index++) {
      const name = `model.layers.${index}.mlp.up_proj.weight`;
      for (let i = 0; i < base.length; i += 2) {
        const radius = Math.sqrt(-2 * Math.log(random()));
        const angle = 2 * Math.PI * random();
        base[i] = radius * Math.cos(angle) * BASE_STD;
        base[i + 1] = radius * Math.sin(angle) * BASE_STD;
      }
      for (let i = 0; i < base.length; i++) instruct[i] = base[i]! * (1 + INSTRUCT_RELATIVE_CHANGE * (2 * random() - 1));
      for (const [side, values] of [base, instruct].entries()) {
        quantizeE4m3BlocksBytes(new Uint8Array(values.buffer), bytes, ROWS, { columns: COLUMNS, blockRows: 128, blockColumns: 128 }, scaleColumns, scales);
        writeSync(fds[side]!, bytes, 0, bytes.byteLength, position.get(name)!);
        writeSync(fds[side]!, scales, 0, scales.byteLength, position.get(blockScaleName(name))!);
      }
    }
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  for (const file of files) renameSync(`${file}.partial`, file);
  for (const dir of [pair.baseDir, pair.instructDir]) {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({
      model_type: 'deepseek_v3', hidden_size: COLUMNS, num_hidden_layers: pair.count, torch_dtype: 'bfloat16',
      quantization_config: blockQuantizationConfig(),
    }));
  }
}

function ensurePair(benchDir: string, gb: number): Fp8Pair {
  const count = Math.max(1, Math.round((gb * 1e9) / (ROWS * COLUMNS)));
  const root = join(benchDir, `fp8-pair-v1-${gb}gb`);
  const pair = { baseDir: join(root, 'base'), instructDir: join(root, 'instruct'), count };
  if (![pair.baseDir, pair.instructDir].every((dir) => existsSync(join(dir, 'config.json')))) {
    console.log(`generating ${root} (2 x ${count} FP8 weights of ${ROWS} x ${COLUMNS})...`);
    writePair(pair);
  }
  return pair;
}

function safetensorsFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.endsWith('.safetensors')).sort().map((name) => join(dir, name));
}

function bytesOf(files: readonly string[]): number {
  return files.reduce((sum, file) => sum + statSync(file).size, 0);
}

function floor(inputs: readonly string[], outputBytes: number, out: string): ProcessSpec {
  const read = `cat ${inputs.map((file) => `'${file}'`).join(' ')} > /dev/null`;
  const write = `dd if=/dev/zero of='${out}' bs=1M count=${outputBytes} iflag=count_bytes conv=fdatasync status=none`;
  return { command: 'bash', args: ['-c', `${read} && ${write}`] };
}

function timed(runs: number, inputs: readonly string[], spec: (out: string) => ProcessSpec, scratch: string): Measurement & { all: number[] } {
  const results: Measurement[] = [];
  for (let run = 0; run < runs; run++) {
    const out = join(scratch, `out-${run}`);
    warmPageCache(inputs);
    try {
      results.push(timeProcess(spec(out)));
    } finally {
      removeQuietly(out);
    }
  }
  const rss = results.map((result) => result.rssMb).filter((value): value is number => value !== null);
  return { seconds: median(results.map((result) => result.seconds)), rssMb: rss.length > 0 ? Math.max(...rss) : null, all: results.map((result) => result.seconds) };
}

/** Times the FP8 rows on a pair of about `gb` GB per model and returns their table as Markdown lines. */
export function benchFp8Pair(gb: number, runs: number, log: (line: string) => void = console.log): string[] {
  const benchDir = join(ROOT, '.bench');
  const pair = ensurePair(benchDir, gb);
  const scratch = join(benchDir, 'fp8-scratch');
  removeQuietly(scratch);
  mkdirSync(scratch, { recursive: true });
  const node = process.execPath;
  const cli = (...args: string[]): ProcessSpec => ({ command: node, args: [CLI, ...args] });
  const cache = { ...process.env, CHECKPOINT_SURGEON_CACHE: join(scratch, 'digest-cache') };
  const residual = join(scratch, 'residual');
  const prepared = timeProcess({ ...cli('compute', '--base', pair.baseDir, '--instruct', pair.instructDir, '--out', residual), env: cache });
  log(`FP8 residual computed (untimed setup, ${prepared.seconds.toFixed(1)} s)`);

  const models = [...safetensorsFiles(pair.baseDir), ...safetensorsFiles(pair.instructDir)];
  const residualFiles = safetensorsFiles(residual);
  const applyInputs = [...safetensorsFiles(pair.baseDir), ...residualFiles];
  const elements = pair.count * ROWS * COLUMNS;
  const rows: Array<{ label: string; inputs: string[]; outputBytes: number; spec: (out: string) => ProcessSpec }> = [
    { label: 'compute (auto: F32 residual)', inputs: models, outputBytes: bytesOf(residualFiles),
      spec: (out) => cli('compute', '--base', pair.baseDir, '--instruct', pair.instructDir, '--out', out) },
    { label: 'apply (default: BF16 output)', inputs: applyInputs, outputBytes: elements * 2,
      spec: (out) => cli('apply', '--base', pair.baseDir, '--residual', residual, '--out', out) },
    { label: 'apply --dtype fp8 (re-quantized)', inputs: applyInputs, outputBytes: bytesOf(safetensorsFiles(pair.baseDir)),
      spec: (out) => cli('apply', '--base', pair.baseDir, '--residual', residual, '--out', out, '--dtype', 'fp8') },
  ];
  const inputGb = (files: readonly string[]): number => bytesOf(files) / 1e9;
  const table = [
    `FP8 pair: ${pair.count} weights of ${ROWS} x ${COLUMNS} per model (${inputGb(safetensorsFiles(pair.baseDir)).toFixed(2)} GB each), ${runs} warm runs, median`,
    '| job | seconds | GB/s of input | floor seconds | x floor | peak RSS MB |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of rows) {
    const floorTime = timed(runs, row.inputs, (out) => floor(row.inputs, row.outputBytes, out), scratch);
    const jobTime = timed(runs, row.inputs, row.spec, scratch);
    table.push(`| ${row.label} | ${jobTime.seconds.toFixed(2)} | ${(inputGb(row.inputs) / jobTime.seconds).toFixed(2)} | `
      + `${floorTime.seconds.toFixed(2)} | ${(jobTime.seconds / floorTime.seconds).toFixed(2)} | ${jobTime.rssMb?.toFixed(0) ?? 'n/a'} |`);
  }
  removeQuietly(scratch);
  return table;
}

if (require.main === module) {
  for (const line of benchFp8Pair(argument('gb', 1), argument('runs', 3))) console.log(line);
}
