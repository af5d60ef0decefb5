import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SurgeonError } from '../../../src/engine/errors';
import { openInputs } from '../../../src/engine/jobs/open-input';
import { FakeHub } from '../../helpers/fake-hub-server';

describe('openInputs', () => {
  let root: string;
  let hub: FakeHub;
  const previous = { cache: process.env['HF_HUB_CACHE'], endpoint: process.env['HF_ENDPOINT'] };
  const restore = (name: string, value: string | undefined): void => {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  };
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-open-inputs-'));
    hub = await FakeHub.start();
    process.env['HF_HUB_CACHE'] = join(root, 'empty-cache');
    process.env['HF_ENDPOINT'] = hub.url;
    await writeFile(join(root, 'short.safetensors'), Buffer.from([1, 2, 3]));
  });
  after(async () => {
    restore('HF_HUB_CACHE', previous.cache);
    restore('HF_ENDPOINT', previous.endpoint);
    await hub.close();
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

  it('stops a download in flight when another input fails, and blames the input that failed', async () => {
    hub.addModel('acme/hanging', [{ path: 'model.safetensors', content: Buffer.alloc(64) }]);
    hub.fault({ path: /acme\/hanging/, action: 'hang', times: 10 });
    const broken = join(root, 'short.safetensors');
    const started = Date.now();
    await assert.rejects(openInputs(['acme/hanging', broken] as const, { allowDownload: true }), (error: unknown) =>
      error instanceof SurgeonError && error.rule !== 'cancelled' && error.file === broken);
    // The Hub never answers: only stopping the download ends the call this soon.
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
  });
});
