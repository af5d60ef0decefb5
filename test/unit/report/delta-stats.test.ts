import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mulberry32 } from '../../helpers/make-checkpoint';
import type { TensorReport, TensorStatus } from '../../../src/shared/report';
import { finishTensorStats, type DeltaAccumulator } from '../../../src/engine/report/delta-stats';
import { layerCells, summarizeTensors } from '../../../src/shared/report-summary';

interface Pair { a: Float32Array; b: Float32Array }

function pair(seed: number, length: number, spread: number, zeroEvery = 0): Pair {
  const random = mulberry32(seed);
  const a = new Float32Array(length);
  const b = new Float32Array(length);
  for (let index = 0; index < length; index++) {
    a[index] = random() * 2 - 1;
    b[index] = zeroEvery > 0 && index % zeroEvery === 0 ? (a[index] ?? 0) : (a[index] ?? 0) + (random() - 0.3) * spread;
  }
  return { a, b };
}

/** What a kernel accumulates in one streaming pass; the expectations below are computed another way. */
function accumulate({ a, b }: Pair): DeltaAccumulator {
  const acc: DeltaAccumulator = {
    count: 0, sum: 0, sumSquares: 0, baseSumSquares: 0, otherSumSquares: 0, dot: 0, maxAbs: 0, unchanged: 0, nonFinite: 0,
    histogram: { min: -1, max: 1, counts: [0, 0] },
  };
  for (let index = 0; index < a.length; index++) {
    const x = a[index] ?? 0;
    const y = b[index] ?? 0;
    const d = Math.fround(y - x);
    if (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isFinite(d)) {
      acc.nonFinite++;
      continue;
    }
    acc.count++;
    acc.sum += d;
    acc.sumSquares += d * d;
    acc.baseSumSquares += x * x;
    acc.otherSumSquares += y * y;
    acc.dot += x * y;
    acc.maxAbs = Math.max(acc.maxAbs, Math.abs(d));
    if (d === 0) acc.unchanged++;
  }
  return acc;
}

const deltas = ({ a, b }: Pair): number[] => Array.from(a, (x, index) => Math.fround((b[index] ?? 0) - x));
const norm = (values: ArrayLike<number>): number => Math.hypot(...Array.from(values));

function close(actual: number | null | undefined, expected: number, relative = 1e-9): void {
  assert.ok(actual !== null && actual !== undefined, `expected ${expected}, got ${actual}`);
  assert.ok(Math.abs(actual - expected) <= relative * Math.max(1, Math.abs(expected)), `${actual} != ${expected}`);
}

function tensorReport(name: string, status: TensorStatus, data: Pair | null, layer: number | null, module: string): TensorReport {
  const report: TensorReport = { name, status, layer, module };
  if (data) Object.assign(report, { elements: data.a.length, ...finishTensorStats(accumulate(data)) });
  return report;
}

describe('finishTensorStats', () => {
  it('matches statistics computed directly from the delta (two-pass mean and standard deviation)', () => {
    const data = pair(7, 4000, 0.05, 5);
    const stats = finishTensorStats(accumulate(data));
    const d = deltas(data);
    const mean = d.reduce((sum, value) => sum + value, 0) / d.length;
    const std = Math.sqrt(d.reduce((sum, value) => sum + (value - mean) ** 2, 0) / d.length);
    const cosine = Array.from(data.a, (x, index) => x * (data.b[index] ?? 0)).reduce((s, v) => s + v, 0) / (norm(data.a) * norm(data.b));
    close(stats.deltaNorm, norm(d));
    close(stats.baseNorm, norm(data.a));
    close(stats.relativeNorm, norm(d) / norm(data.a));
    close(stats.cosine, cosine);
    close(stats.meanDelta, mean);
    close(stats.stdDelta, std, 1e-7);
    assert.equal(stats.maxAbsDelta, Math.max(...d.map(Math.abs)));
    assert.equal(stats.zeroFraction, d.filter((value) => value === 0).length / d.length);
    assert.ok(stats.zeroFraction >= 0.2);
    assert.equal(stats.nonFinite, 0);
  });

  it('leaves non-finite elements out and counts them', () => {
    const data = pair(3, 100, 0.1);
    data.b[10] = Number.NaN;
    data.a[20] = Number.POSITIVE_INFINITY;
    const stats = finishTensorStats(accumulate(data));
    assert.equal(stats.nonFinite, 2);
    const finite = deltas(data).filter((_, index) => index !== 10 && index !== 20);
    close(stats.deltaNorm, norm(finite));
    close(stats.meanDelta, finite.reduce((s, v) => s + v, 0) / 98);
  });

  it('gives null relative norm and cosine when the base is all zeros, and no NaN for empty tensors', () => {
    const zeros = { a: new Float32Array(8), b: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]) };
    const stats = finishTensorStats(accumulate(zeros));
    assert.equal(stats.relativeNorm, null);
    assert.equal(stats.cosine, null);
    close(stats.deltaNorm, Math.sqrt(204));
    const empty = finishTensorStats(accumulate({ a: new Float32Array(0), b: new Float32Array(0) }));
    assert.deepEqual([empty.meanDelta, empty.stdDelta, empty.zeroFraction, empty.relativeNorm], [0, 0, 0, null]);
  });

  it('keeps the cosine of a tensor with itself within [-1, 1]', () => {
    const data = pair(11, 999, 0);
    const stats = finishTensorStats(accumulate({ a: data.a, b: data.a }));
    assert.ok(stats.cosine !== null && stats.cosine <= 1 && stats.cosine > 1 - 1e-12);
    assert.equal(stats.zeroFraction, 1);
  });
});

describe('layerCells and summarizeTensors over finished statistics', () => {
  const q0 = pair(1, 300, 0.02);
  const k0 = pair(2, 200, 0.08);
  const q1w = pair(3, 300, 0.01);
  const q1b = pair(4, 30, 0.5);
  const embed = pair(5, 500, 0.001);
  const tensors: TensorReport[] = [
    tensorReport('model.layers.1.self_attn.q_proj.weight', 'changed', q1w, 1, 'q'),
    tensorReport('model.layers.1.self_attn.q_proj.bias', 'changed', q1b, 1, 'q'),
    tensorReport('model.embed_tokens.weight', 'changed', embed, null, 'embed'),
    tensorReport('model.layers.0.self_attn.q_proj.weight', 'changed', q0, 0, 'q'),
    tensorReport('model.layers.0.self_attn.k_proj.weight', 'changed', k0, 0, 'k'),
    tensorReport('model.layers.0.input_layernorm.weight', 'unchanged', { a: q0.a, b: q0.a }, 0, 'input_norm'),
    tensorReport('lm_head.weight', 'shape-mismatch', null, null, 'lm_head'),
    tensorReport('extra.weight', 'only-in-b', null, null, 'extra'),
  ];

  it('rolls tensors into (layer, module) cells with norms of the concatenated tensors', () => {
    const cells = layerCells(tensors);
    assert.deepEqual(cells.map((cell) => [cell.layer, cell.module, cell.tensors]), [
      [0, 'input_norm', 1], [0, 'k', 1], [0, 'q', 1], [1, 'q', 2], [null, 'embed', 1],
    ]);
    const layerOneQ = cells[3];
    const delta = [...deltas(q1w), ...deltas(q1b)];
    const base = [...q1w.a, ...q1b.a];
    close(layerOneQ?.deltaNorm, norm(delta));
    close(layerOneQ?.baseNorm, norm(base));
    close(layerOneQ?.relativeNorm, norm(delta) / norm(base));
    assert.equal(cells[0]?.relativeNorm, 0);
  });

  it('summarizes counts, parameters, the global relative norm and the most changed tensors', () => {
    const summary = summarizeTensors(tensors);
    assert.deepEqual(summary.counts, {
      changed: 5, unchanged: 1, 'shape-mismatch': 1, 'dtype-mismatch': 0, 'only-in-a': 0, 'only-in-b': 1,
    });
    assert.equal(summary.parametersChanged, 300 + 30 + 500 + 300 + 200);
    assert.equal(summary.parametersCompared, 300 + 30 + 500 + 300 + 200 + 300);
    const all = [q1w, q1b, embed, q0, k0];
    const globalDelta = norm(all.flatMap(deltas));
    const globalBase = norm([...all.flatMap((data) => Array.from(data.a)), ...q0.a]);
    close(summary.globalRelativeNorm, globalDelta / globalBase);
    const expectedOrder = tensors
      .filter((tensor) => typeof tensor.relativeNorm === 'number')
      .map((tensor) => ({ name: tensor.name, relativeNorm: tensor.relativeNorm as number }))
      .sort((x, y) => y.relativeNorm - x.relativeNorm);
    assert.deepEqual(summary.mostChanged, expectedOrder);
    assert.equal(summary.mostChanged[0]?.name, 'model.layers.1.self_attn.q_proj.bias');
  });

  it('lists at most ten tensors and has no global norm without statistics', () => {
    const many = Array.from({ length: 12 }, (_, index) =>
      tensorReport(`t${String(index).padStart(2, '0')}`, 'changed', pair(100 + index, 50, 0.01 * (index + 1)), index, 'q'));
    const summary = summarizeTensors(many);
    assert.equal(summary.mostChanged.length, 10);
    assert.equal(summary.mostChanged.some((entry) => entry.name === 't00' || entry.name === 't01'), false);
    assert.equal(summarizeTensors([tensorReport('x', 'only-in-a', null, null, 'x')]).globalRelativeNorm, null);
  });
});
