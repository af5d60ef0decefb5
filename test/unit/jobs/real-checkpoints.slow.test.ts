import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runDiff, runInspect } from '../../../src/engine/jobs';

const REAL = join(__dirname, '../../fixtures/real');

describe('jobs on more real checkpoints', () => {
  it('inspects the real tiny MiniCPM3 checkpoint and finds every tensor unchanged against itself', async () => {
    const dir = join(REAL, 'ollama-convert-testdata-minicpm3');
    const inspected = await runInspect({ path: dir });
    assert.equal(inspected.tensors.length, 15);
    assert.deepEqual(Object.keys(inspected.dtypes), ['F32']);
    assert.equal(inspected.modelType, 'minicpm3');
    const { report } = await runDiff({ a: dir, b: dir });
    assert.equal(report.summary.counts.unchanged, 15);
    assert.ok(report.tensors.every((tensor) => tensor.deltaNorm === 0 && tensor.zeroFraction === 1 && tensor.relativeNorm !== undefined));
    // The converter's test data initialises every norm weight to ones (and the matrices to zeros).
    const norms = report.tensors.filter((tensor) => tensor.name.endsWith('layernorm.weight'));
    assert.ok(norms.length > 0);
    for (const tensor of norms) assert.equal(tensor.baseNorm, Math.sqrt(tensor.elements!), tensor.name);
    assert.ok(report.layers.some((cell) => cell.layer === 0));
  });

  it('describes the real Llama-3.2-3B-Instruct folder, whose shards are Git LFS pointers, from its index, naming them', async () => {
    const inspected = await runInspect({ path: join(REAL, 'llama-3-family-instruct-only/Llama-3.2-3B-Instruct') });
    assert.deepEqual(inspected.missingWeights?.map((missing) => [missing.file, missing.reason]),
      [['model-00001-of-00002.safetensors', 'lfs-pointer'], ['model-00002-of-00002.safetensors', 'lfs-pointer']]);
    assert.equal(inspected.index?.tensors, 254);
    assert.equal(inspected.index?.layers, 28);
  });
});
