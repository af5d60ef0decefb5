import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FakeHub } from '../../helpers/fake-hub-server';
import { llamaLikeTensors, writeCheckpoint } from '../../helpers/make-checkpoint';
import { runCliWith } from '../../helpers/run-cli';

describe('the CLI with Hub ids (a local fake Hub on 127.0.0.1)', () => {
  let root: string;
  let hub: FakeHub;
  let env: Record<string, string | undefined>;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-cli-hub-'));
    hub = await FakeHub.start();
    const config = { model_type: 'llama', hidden_size: 8, num_hidden_layers: 1, vocab_size: 12, tie_word_embeddings: false };
    for (const [name, seed] of [['base', 1], ['instruct', 2]] as const) {
      const dir = join(root, 'src', name);
      await writeCheckpoint(dir, llamaLikeTensors({ layers: 1, hidden: 8, vocab: 12, dtype: 'BF16', tied: false, seed }), { config });
      hub.addModel(`acme/${name}`, await Promise.all((await readdir(dir)).map(async (file) => ({ path: file, content: await readFile(join(dir, file)) }))));
    }
    // Online (to the fake Hub) for the run, whatever this process's environment says.
    env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: join(root, 'cache'), HF_TOKEN: '', HF_HUB_OFFLINE: undefined };
  });
  after(async () => {
    await hub.close();
    await rm(root, { recursive: true, force: true });
  });

  it('refuses an uncached id without --download, and fetches it into the cache with it', async () => {
    const out = join(root, 'residual');
    const args = ['compute', '--base', 'acme/base', '--instruct', 'acme/instruct', '--out', out, '--json'];
    const refused = await runCliWith({ env }, ...args);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /acme\/base is not a local path and not in the Hugging Face cache/);
    const fetched = await runCliWith({ env }, ...args, '--download');
    assert.equal(fetched.code, 0, fetched.stderr);
    const result = JSON.parse(fetched.stdout) as { kind: string; tensors: number };
    assert.equal(result.kind, 'compute');
    assert.ok((await readdir(join(root, 'cache'))).includes('models--acme--base'));
    // Offline from now on: the cache answers.
    await hub.close();
    const cached = await runCliWith({ env }, 'inspect', 'acme/instruct', '--json');
    assert.equal(cached.code, 0, cached.stderr);
    assert.equal((JSON.parse(cached.stdout) as { tensors: unknown[] }).tensors.length, result.tensors);
  });
});
