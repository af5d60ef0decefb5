import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runDiff, runInspect } from '../../../src/engine/jobs';
import { makeTensor, mulberry32, writeCheckpoint } from '../../helpers/make-checkpoint';

/** Statistics computed here, in f64, straight from the values, independently of the kernels. */
function expectedStats(a: Float32Array, b: Float32Array) {
  let deltaSquares = 0; let baseSquares = 0; let otherSquares = 0; let dot = 0; let maxAbs = 0; let sum = 0; let unchanged = 0;
  for (let index = 0; index < a.length; index++) {
    const delta = Math.fround(b[index]! - a[index]!);
    deltaSquares += delta * delta; baseSquares += a[index]! ** 2; otherSquares += b[index]! ** 2; dot += a[index]! * b[index]!;
    maxAbs = Math.max(maxAbs, Math.abs(delta)); sum += delta; if (delta === 0) unchanged++;
  }
  const mean = sum / a.length;
  let variance = 0;
  for (let index = 0; index < a.length; index++) variance += (Math.fround(b[index]! - a[index]!) - mean) ** 2;
  return {
    deltaNorm: Math.sqrt(deltaSquares), baseNorm: Math.sqrt(baseSquares), relativeNorm: Math.sqrt(deltaSquares) / Math.sqrt(baseSquares),
    cosine: dot / Math.sqrt(baseSquares * otherSquares), maxAbsDelta: maxAbs, meanDelta: mean, stdDelta: Math.sqrt(variance / a.length),
    zeroFraction: unchanged / a.length,
  };
}

function elementsOf(values: Float32Array): () => number {
  let index = 0;
  return () => values[index++]!;
}

describe('diff: per-tensor statistics of B - A in one pass', () => {
  let root: string;
  const values = new Map<string, { a: Float32Array; b: Float32Array }>();
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-diff-'));
    const random = mulberry32(11);
    const shapes: Array<[string, number[]]> = [
      ['model.layers.0.self_attn.q_proj.weight', [64, 48]],
      ['model.layers.0.mlp.down_proj.weight', [300, 1000]], // 300k elements: several streaming pieces
      ['model.layers.1.self_attn.q_proj.weight', [64, 48]],
    ];
    const a = []; const b = [];
    for (const [name, shape] of shapes) {
      const count = shape[0]! * shape[1]!;
      const av = new Float32Array(count).map(() => random() - 0.5);
      // Known delta: every third element unchanged, the rest moved by a deterministic amount.
      const bv = av.map((value, index) => (index % 3 === 0 ? value : Math.fround(value + 0.01 * ((index % 7) - 3))));
      values.set(name, { a: av, b: bv });
      a.push(makeTensor(name, shape, 'F32', elementsOf(av)));
      b.push(makeTensor(name, shape, 'F32', elementsOf(bv)));
    }
    await writeCheckpoint(join(root, 'a'), a, { config: { model_type: 'llama', hidden_size: 48, num_hidden_layers: 2 } });
    await writeCheckpoint(join(root, 'b'), [...b, makeTensor('extra.weight', [3], 'F32', () => 1)], { config: { model_type: 'llama', hidden_size: 48, num_hidden_layers: 2 } });
  });
  after(async () => rm(root, { recursive: true, force: true }));

  it('matches norms, cosine, mean, std, max and the unchanged share computed independently', async () => {
    const { report } = await runDiff({ a: join(root, 'a'), b: join(root, 'b') });
    for (const [name, { a, b }] of values) {
      const tensor = report.tensors.find((entry) => entry.name === name)!;
      const expected = expectedStats(a, b);
      for (const [key, value] of Object.entries(expected)) {
        const actual = tensor[key as keyof typeof expected] as number;
        assert.ok(Math.abs(actual - value) <= 1e-9 * Math.max(1, Math.abs(value)), `${name} ${key}: ${actual} vs ${value}`);
      }
      assert.equal(tensor.status, 'changed');
      assert.equal(tensor.histogram!.counts.length, 64);
      assert.equal(tensor.histogram!.counts.reduce((sum, count) => sum + count, 0), a.length);
    }
    assert.equal(report.tensors.find((entry) => entry.name === 'extra.weight')!.status, 'only-in-b');
    assert.equal(report.summary.counts['only-in-b'], 1);
    assert.deepEqual(report.layers.map((cell) => [cell.layer, cell.module]), [[0, 'down'], [0, 'q'], [1, 'q']]);
  });

  it('leaves non-finite elements out of the statistics and counts them', async () => {
    const a = new Float32Array([1, 2, 3, 4]);
    const b = new Float32Array([2, NaN, 5, 4]);
    await writeCheckpoint(join(root, 'nan-a'), [makeTensor('w', [4], 'F32', elementsOf(a))]);
    await writeCheckpoint(join(root, 'nan-b'), [makeTensor('w', [4], 'F32', elementsOf(b))]);
    const { report } = await runDiff({ a: join(root, 'nan-a'), b: join(root, 'nan-b') });
    const tensor = report.tensors[0]!;
    assert.equal(tensor.nonFinite, 1);
    assert.equal(tensor.meanDelta, (1 + 2 + 0) / 3);
    assert.equal(tensor.zeroFraction, 1 / 3);
    assert.equal(tensor.deltaNorm, Math.sqrt(1 + 4));
  });

  it('describes a residual alone: the delta is the residual itself', async () => {
    const { report } = await runDiff({ a: join(root, 'b') });
    const [name, { b }] = [...values.entries()][0]!;
    const tensor = report.tensors.find((entry) => entry.name === name)!;
    const norm = Math.sqrt(b.reduce((sum, value) => sum + value * value, 0));
    assert.ok(Math.abs(tensor.deltaNorm! - norm) < 1e-9 * norm);
    assert.equal(report.residualOnly, true);
  });

  it('inspect reads headers alone: tensors, parameters, dtypes, architecture', async () => {
    const result = await runInspect({ path: join(root, 'a') });
    assert.equal(result.tensors.length, 3);
    assert.equal(result.parameters, 64 * 48 * 2 + 300_000);
    assert.deepEqual(result.dtypes, { F32: 64 * 48 * 2 + 300_000 });
    assert.equal(result.modelType, 'llama');
  });
});
