import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCompute, runInspect, runVerify } from '../../../src/engine/jobs';
import { llamaLikeTensors, writeCheckpoint } from '../../helpers/make-checkpoint';
import { makeHfCache } from '../../helpers/make-hf-cache';

async function filesOf(dir: string): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {};
  for (const name of await readdir(dir)) files[name] = await readFile(join(dir, name));
  return files;
}

describe('Hub ids resolved in the local Hugging Face cache (snapshots are symlinks into blobs)', () => {
  let root: string;
  const previousCache = process.env['HF_HUB_CACHE'];
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-hub-input-'));
    const config = { model_type: 'llama', hidden_size: 16, num_hidden_layers: 2, vocab_size: 32, tie_word_embeddings: false };
    await writeCheckpoint(join(root, 'base'), llamaLikeTensors({ layers: 2, hidden: 16, vocab: 32, dtype: 'BF16', tied: false, seed: 1 }), { config });
    await writeCheckpoint(join(root, 'instruct'), llamaLikeTensors({ layers: 2, hidden: 16, vocab: 32, dtype: 'BF16', tied: false, seed: 2 }), { config, shardSize: 4096 });
    await makeHfCache(join(root, 'cache'), [
      { repo: 'acme/tiny-base', revisions: [{ commit: 'a'.repeat(40), refs: ['main'], files: await filesOf(join(root, 'base')) }] },
      { repo: 'acme/tiny-instruct', revisions: [{ commit: 'b'.repeat(40), refs: ['main', 'v1'], files: await filesOf(join(root, 'instruct')) }] },
    ]);
    process.env['HF_HUB_CACHE'] = join(root, 'cache');
  });
  after(async () => {
    if (previousCache === undefined) delete process.env['HF_HUB_CACHE'];
    else process.env['HF_HUB_CACHE'] = previousCache;
    await rm(root, { recursive: true, force: true });
  });

  it('inspect, compute and verify take org/name[@revision] wherever they take a folder, offline', async () => {
    const inspected = await runInspect({ path: 'acme/tiny-instruct@v1' });
    assert.equal(inspected.layout, 'sharded');
    assert.equal(inspected.modelType, 'llama');
    const out = join(root, 'residual');
    const computed = await runCompute({ base: 'acme/tiny-base', instruct: 'acme/tiny-instruct@v1', out, dtype: 'f32' });
    assert.equal(computed.tensors, inspected.tensors.length);
    const verdict = await runVerify({ base: 'acme/tiny-base', residual: out, instruct: 'acme/tiny-instruct' });
    assert.equal(verdict.ok, true);
  });
});
