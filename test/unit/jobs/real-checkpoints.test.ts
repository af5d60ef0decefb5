import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SurgeonError } from '../../../src/engine/errors';
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

  it('refuses the real Llama-3.2-3B-Instruct folder, whose shards are Git LFS pointers, saying so', async () => {
    await assert.rejects(runInspect({ path: join(REAL, 'llama-3-family-instruct-only/Llama-3.2-3B-Instruct') }), (error: unknown) =>
      error instanceof SurgeonError && error.rule === 'lfs-pointer' && /model-0000[12]-of-00002\.safetensors/.test(error.message)
      && /Git LFS pointer/i.test(error.message));
  });
});
