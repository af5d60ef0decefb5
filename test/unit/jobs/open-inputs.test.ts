import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SurgeonError } from '../../../src/engine/errors';
import { openInputs } from '../../../src/engine/jobs/open-input';

describe('openInputs', () => {
  let root: string;
  const previousCache = process.env['HF_HUB_CACHE'];
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-open-inputs-'));
    process.env['HF_HUB_CACHE'] = join(root, 'empty-cache');
    await writeFile(join(root, 'short.safetensors'), Buffer.from([1, 2, 3]));
  });
  after(async () => {
    if (previousCache === undefined) delete process.env['HF_HUB_CACHE'];
    else process.env['HF_HUB_CACHE'] = previousCache;
    await rm(root, { recursive: true, force: true });
  });

  it('reports the first failing input in argument order, whichever fails first in time', async () => {
    // An uncached Hub id fails after a look into the cache; a 3-byte file fails at its first read.
    const uncached = 'acme/not-cached';
    const broken = join(root, 'short.safetensors');
    for (let round = 0; round < 20; round++) {
      await assert.rejects(openInputs([uncached, broken] as const), (error: unknown) =>
        error instanceof SurgeonError && error.rule === 'hub' && error.message.includes(uncached));
      await assert.rejects(openInputs([broken, uncached] as const), (error: unknown) =>
        error instanceof SurgeonError && error.rule !== 'hub' && error.file === broken);
    }
  });
});
