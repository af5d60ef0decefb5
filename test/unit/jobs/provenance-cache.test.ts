/**
 * Provenance digests of a job's inputs: computed on hashing threads, remembered in the digest cache, and
 * recomputed as soon as a file is touched.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCompute } from '../../../src/engine/jobs';
import { llamaLikeTensors, writeCheckpoint } from '../../helpers/make-checkpoint';

const config = { model_type: 'llama', hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 40 };
let root: string;
let cacheDir: string;
let previousCache: string | undefined;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'surgeon-provenance-'));
  cacheDir = join(root, 'cache');
  previousCache = process.env['CHECKPOINT_SURGEON_CACHE'];
  process.env['CHECKPOINT_SURGEON_CACHE'] = cacheDir;
  await writeCheckpoint(join(root, 'base'), llamaLikeTensors({ layers: 2, hidden: 16, vocab: 40, dtype: 'BF16', tied: false, seed: 1 }), { config });
  await writeCheckpoint(join(root, 'instruct'), llamaLikeTensors({ layers: 2, hidden: 16, vocab: 40, dtype: 'BF16', tied: false, seed: 2 }), { config });
});
after(async () => {
  if (previousCache === undefined) delete process.env['CHECKPOINT_SURGEON_CACHE'];
  else process.env['CHECKPOINT_SURGEON_CACHE'] = previousCache;
  await rm(root, { recursive: true, force: true });
});

async function baseDigest(out: string): Promise<string> {
  const result = await runCompute({ base: join(root, 'base'), instruct: join(root, 'instruct'), out: join(root, out) });
  return result.provenance.base[0]!.sha256;
}

test('the first job hashes its inputs, later ones take the remembered digest until the file is touched', async () => {
  const basePath = join(root, 'base', 'model.safetensors');
  const actual = createHash('sha256').update(await readFile(basePath)).digest('hex');
  assert.equal(await baseDigest('first'), actual);

  // Plant a different digest under the same file identity: a job that reports it read it from the cache.
  const cacheFile = join(cacheDir, 'sha256-v1.json');
  const cache = JSON.parse(await readFile(cacheFile, 'utf8')) as { entries: Record<string, { sha256: string }> };
  const entry = Object.entries(cache.entries).find(([path]) => path.endsWith(join('base', 'model.safetensors')));
  assert.ok(entry, 'the first job remembered the base file');
  entry[1].sha256 = 'f'.repeat(64);
  await writeFile(cacheFile, JSON.stringify(cache));
  assert.equal(await baseDigest('second'), 'f'.repeat(64));

  await utimes(basePath, new Date(), new Date());
  assert.equal(await baseDigest('third'), actual, 'a touched file is hashed again');
});
