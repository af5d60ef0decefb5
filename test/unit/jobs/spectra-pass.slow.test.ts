import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runDiff } from '../../../src/engine/jobs';
import type { JobProgress } from '../../../src/shared/jobs';
import type { TensorReport } from '../../../src/shared/report';
import { makeTensor, mulberry32, writeCheckpoint } from '../../helpers/make-checkpoint';
import { runCli as cli } from '../../helpers/run-cli';

const LOW_RANK = 'model.layers.0.self_attn.q_proj.weight';
const FULL_RANK = 'model.layers.0.mlp.up_proj.weight';
const GROWN = 'model.embed_tokens.weight';
const NORM = 'model.layers.0.input_layernorm.weight';

/** sum over `rank` random outer products u_i v_i^T: a matrix of rank `rank` exactly (in f64). */
function lowRank(rows: number, cols: number, rank: number, random: () => number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rank; r++) {
    const u = Array.from({ length: rows }, () => random() - 0.5);
    const v = Array.from({ length: cols }, () => random() - 0.5);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = out[i * cols + j]! + u[i]! * v[j]!;
  }
  return out;
}

function elementsOf(values: Float32Array): () => number {
  let index = 0;
  return () => values[index++]!;
}

/** ||b - a||_F with a grown with zero rows, from the f32 differences, in f64. */
function deltaNorm(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < b.length; i++) sum += Math.fround(b[i]! - (a[i] ?? 0)) ** 2;
  return Math.sqrt(sum);
}

describe('spectra pass: spectra of B - A in the diff report', () => {
  let root: string;
  const values = new Map<string, { a: Float32Array; b: Float32Array }>();
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-spectra-'));
    const random = mulberry32(23);
    const base = (count: number) => new Float32Array(count).map(() => random() - 0.5);
    // Rank 4 delta in an f32 matrix.
    const qa = base(96 * 80);
    const qDelta = lowRank(96, 80, 4, random);
    values.set(LOW_RANK, { a: qa, b: qa.map((value, i) => value + qDelta[i]!) });
    // A full-rank delta, to show that the effective rank tells the two apart.
    const ua = base(64 * 48);
    values.set(FULL_RANK, { a: ua, b: ua.map((value) => value + (random() - 0.5)) });
    // Vocabulary growth 12 -> 14 rows: rank 2 on the shared rows plus two new rows, at most rank 4.
    const ea = base(12 * 16);
    const eDelta = lowRank(12, 16, 2, random);
    const eb = new Float32Array(14 * 16);
    eb.set(ea.map((value, i) => value + eDelta[i]!));
    for (let i = 12 * 16; i < eb.length; i++) eb[i] = random() - 0.5;
    values.set(GROWN, { a: ea, b: eb });
    values.set(NORM, { a: base(16), b: base(16) });
    const shapes = new Map([[LOW_RANK, [96, 80]], [FULL_RANK, [64, 48]], [GROWN, [12, 16]], [NORM, [16]]]);
    const a = []; const b = [];
    for (const [name, side] of values) {
      const shape = shapes.get(name)!;
      a.push(makeTensor(name, shape, 'F32', elementsOf(side.a)));
      b.push(makeTensor(name, name === GROWN ? [14, 16] : shape, 'F32', elementsOf(side.b)));
    }
    const config = { model_type: 'llama', vocab_size: 12, tie_word_embeddings: true };
    await writeCheckpoint(join(root, 'a'), a, { config });
    await writeCheckpoint(join(root, 'b'), b, { config: { ...config, vocab_size: 14 } });
    await writeCheckpoint(join(root, 'residual'), [makeTensor(LOW_RANK, [96, 80], 'BF16', elementsOf(new Float32Array(qDelta)))]);
  });
  after(async () => rm(root, { recursive: true, force: true }));

  function tensor(tensors: TensorReport[], name: string): TensorReport {
    const found = tensors.find((candidate) => candidate.name === name);
    assert.ok(found, name);
    return found;
  }

  it('is absent unless asked for', async () => {
    const { report } = await runDiff({ a: join(root, 'a'), b: join(root, 'b') });
    assert.equal(report.spectraProvider, undefined);
    assert.ok(report.tensors.every((entry) => entry.spectra === undefined));
  });

  it('finds a rank 4 delta: small effective rank, all the energy in 8 directions', async () => {
    const { report } = await runDiff({ a: join(root, 'a'), b: join(root, 'b'), spectra: true, spectraBackend: 'js' });
    assert.match(report.spectraProvider ?? '', /^Spectra on WebAssembly SIMD, \d+ threads?$/);
    const low = tensor(report.tensors, LOW_RANK).spectra!;
    assert.equal(low.singularValues.length, 64);
    assert.ok(low.effectiveRank >= 1 && low.effectiveRank < 4.1, `effective rank ${low.effectiveRank}`);
    assert.ok(Math.abs(low.energyAtRank[8]! - 1) < 1e-6, `energy at 8: ${low.energyAtRank[8]}`);
    assert.ok(low.singularValues[4]! < 1e-4 * low.singularValues[3]!, `s5 ${low.singularValues[4]} vs s4 ${low.singularValues[3]}`);
    const { a, b } = values.get(LOW_RANK)!;
    assert.ok(Math.abs(low.frobeniusNorm - deltaNorm(a, b)) <= 1e-9 * low.frobeniusNorm);
    assert.match(low.provider, /^WebAssembly SIMD, \d+ threads?$/);

    const full = tensor(report.tensors, FULL_RANK).spectra!;
    assert.equal(full.singularValues.length, 48); // min(64, 64, 48)
    assert.ok(full.effectiveRank > 20, `effective rank ${full.effectiveRank}`);
    assert.ok(full.energyAtRank[8]! < 0.6);
    assert.equal(full.energyAtRank[64], 1); // 64 >= min(rows, cols): the whole spectrum

    const grown = tensor(report.tensors, GROWN);
    assert.equal(grown.status, 'shape-mismatch');
    const grownSide = values.get(GROWN)!;
    assert.ok(Math.abs(grown.spectra!.frobeniusNorm - deltaNorm(grownSide.a, grownSide.b)) <= 1e-9 * grown.spectra!.frobeniusNorm);
    assert.ok(grown.spectra!.singularValues[4]! < 1e-4 * grown.spectra!.singularValues[0]!);
    assert.equal(tensor(report.tensors, NORM).spectra, undefined); // 1-D
  });

  it('reports its progress as a phase of its own: matrices done and the bytes of their f32 deltas', async () => {
    const events: JobProgress[] = [];
    await runDiff({ a: join(root, 'a'), b: join(root, 'b'), spectra: true, spectraBackend: 'js' }, { onProgress: (progress) => events.push(progress) });
    const spectra = events.filter((progress) => progress.phase === 'spectra');
    const bytesTotal = (96 * 80 + 64 * 48 + 14 * 16) * 4;
    // The first comes before the backend loads, when nothing is counted yet.
    assert.deepEqual(spectra.shift(), { phase: 'spectra', bytesDone: 0, bytesTotal: 0, tensorsDone: 0, tensorsTotal: 0 });
    assert.deepEqual(spectra.map((progress) => [progress.tensorsDone, progress.tensorsTotal, progress.bytesTotal]), [
      [0, 3, bytesTotal], [1, 3, bytesTotal], [2, 3, bytesTotal], [3, 3, bytesTotal],
    ]);
    // Each step adds the f32 delta bytes of the matrix the step before named.
    const deltaBytes = new Map([[LOW_RANK, 96 * 80 * 4], [FULL_RANK, 64 * 48 * 4], [GROWN, 14 * 16 * 4]]);
    assert.equal(spectra[0]!.bytesDone, 0);
    for (let i = 1; i < spectra.length; i++) {
      assert.equal(spectra[i]!.bytesDone - spectra[i - 1]!.bytesDone, deltaBytes.get(spectra[i - 1]!.tensor!));
    }
    assert.equal(spectra.at(-1)!.tensor, undefined);
    assert.deepEqual(new Set(spectra.slice(0, 3).map((progress) => progress.tensor)), new Set(deltaBytes.keys()));
    // The stream's progress comes first, all of it, then the spectra's.
    const lastStream = events.map((progress) => progress.phase).lastIndexOf('stream');
    assert.ok(lastStream >= 0 && lastStream < events.findIndex((progress) => progress.phase === 'spectra'));
  });

  it('describes a residual read alone', async () => {
    const { report } = await runDiff({ a: join(root, 'residual'), spectra: true, spectraRank: 16 });
    const spectra = tensor(report.tensors, LOW_RANK).spectra!;
    assert.equal(spectra.singularValues.length, 16);
    assert.ok(spectra.effectiveRank < 4.1 && Math.abs(spectra.energyAtRank[8]! - 1) < 1e-4, JSON.stringify(spectra.energyAtRank));
  });

  it('refuses the ort backend when the host lends no onnxruntime-node loader', async () => {
    await assert.rejects(runDiff({ a: join(root, 'residual'), spectra: true, spectraBackend: 'ort' }), { rule: 'usage' });
  });

  it('the CLI prints the provider on stderr, spectra in --json and per matrix in words', async () => {
    const json = await cli('diff', join(root, 'a'), join(root, 'b'), '--spectra', '--spectra-backend', 'js', '--json');
    assert.equal(json.code, 0, json.stderr);
    assert.match(json.stderr, /Spectra on WebAssembly SIMD, \d+ threads? \(onnxruntime-node not requested\)/);
    const result = JSON.parse(json.stdout) as { report: { tensors: TensorReport[]; spectraProvider: string } };
    assert.ok(tensor(result.report.tensors, LOW_RANK).spectra!.effectiveRank < 4.1);
    const words = await cli('diff', join(root, 'a'), join(root, 'b'), '--spectra', '--spectra-backend', 'js');
    assert.equal(words.code, 0, words.stderr);
    assert.match(words.stdout, /Spectra on WebAssembly SIMD.*: 3 matrices, largest delta first\n {2}effective rank +energy@8 +energy@16 +energy@64(?: +energy@256)? +matrix\n/);
    assert.match(words.stdout, new RegExp(`100\\.0% +100\\.0% +100\\.0% +${LOW_RANK.replace(/\./g, '\\.')}`));
    assert.equal((await cli('diff', join(root, 'a'), '--spectra-backend', 'gpu')).code, 2);
  });

  it('the CLI computes the rank --spectra-rank asks for, and the energy at rank 256 only when 256 values exist', async () => {
    // A full-rank 300 x 260 delta: 64 values by default leave the energy at rank 256 unknown.
    const random = mulberry32(5);
    const wide = 'model.layers.0.mlp.down_proj.weight';
    const a = new Float32Array(300 * 260).map(() => random() - 0.5);
    const b = a.map((value) => value + (random() - 0.5));
    await writeCheckpoint(join(root, 'wide-a'), [makeTensor(wide, [300, 260], 'F32', elementsOf(a))]);
    await writeCheckpoint(join(root, 'wide-b'), [makeTensor(wide, [300, 260], 'F32', elementsOf(b))]);
    const diffArgs = ['diff', join(root, 'wide-a'), join(root, 'wide-b'), '--spectra', '--spectra-backend', 'js'];
    const spectraOf = async (...args: string[]) => {
      const run = await cli(...diffArgs, '--json', ...args);
      assert.equal(run.code, 0, run.stderr);
      return tensor((JSON.parse(run.stdout) as { report: { tensors: TensorReport[] } }).report.tensors, wide).spectra!;
    };
    const byDefault = await spectraOf();
    assert.equal(byDefault.singularValues.length, 64);
    assert.equal(byDefault.energyAtRank[256], null);
    const ranked = await spectraOf('--spectra-rank', '256');
    assert.equal(ranked.singularValues.length, 256);
    // 260 samples span all 260 columns, so the 256 values are exact: a share below 1, above the share at 64.
    const exact = ranked.singularValues.reduce((sum, value) => sum + value * value, 0) / ranked.frobeniusNorm ** 2;
    assert.ok(Math.abs(ranked.energyAtRank[256]! - exact) < 1e-12 && exact < 1 && exact > ranked.energyAtRank[64]!, `${exact}`);
    // --spectra-rank alone implies --spectra.
    const words = await cli('diff', join(root, 'wide-a'), join(root, 'wide-b'), '--spectra-backend', 'js', '--spectra-rank', '256');
    assert.equal(words.code, 0, words.stderr);
    assert.match(words.stdout, /effective rank +energy@8 +energy@16 +energy@64 +energy@256 +matrix/);
    assert.match(words.stdout, new RegExp(` ${(exact * 100).toFixed(1).replace('.', '\\.')}% +${wide.replace(/\./g, '\\.')}`));

    const zero = await cli('diff', join(root, 'a'), join(root, 'b'), '--spectra', '--spectra-rank', '0');
    assert.equal(zero.code, 2);
    assert.match(zero.stderr, /the spectra rank must be a whole number from 1 to 1024, not 0/);
    const words2 = await cli('diff', join(root, 'a'), join(root, 'b'), '--spectra', '--spectra-rank', '2.5');
    assert.equal(words2.code, 2);
    assert.match(words2.stderr, /expected a whole number, not "2\.5"/);
  });

  it('refuses a rank out of range before reading any tensor', async () => {
    for (const spectraRank of [0, 1025, 3.5]) {
      let progressed = false;
      await assert.rejects(
        runDiff({ a: join(root, 'a'), b: join(root, 'b'), spectra: true, spectraRank }, { onProgress: () => { progressed = true; } }),
        (error: Error & { rule?: string }) => error.rule === 'usage' && error.message.includes(`not ${spectraRank}`),
      );
      assert.equal(progressed, false);
    }
  });
});
