import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fsPromises from 'node:fs/promises';
import { mkdtemp, readFile, readdir, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { SurgeonError } from '../../../src/engine/errors';
import { runApply, runCompute } from '../../../src/engine/jobs';
import { llamaLikeTensors, writeCheckpoint } from '../../helpers/make-checkpoint';

async function treeHash(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const name of (await readdir(dir)).sort()) hash.update(name).update(await readFile(join(dir, name)));
  return hash.digest('hex');
}

describe('faults mid-job leave no partial output and untouched inputs', () => {
  let root: string;
  let base: string;
  let instruct: string;
  const hashes = new Map<string, string>();
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-faults-'));
    base = join(root, 'base');
    instruct = join(root, 'instruct');
    const config = { model_type: 'llama', hidden_size: 256, num_hidden_layers: 2, vocab_size: 2048 };
    // Big enough (about 10 MB each) to stream in many pieces.
    await writeCheckpoint(base, llamaLikeTensors({ layers: 2, hidden: 256, vocab: 2048, dtype: 'F32', tied: false, seed: 1 }), { config });
    await writeCheckpoint(instruct, llamaLikeTensors({ layers: 2, hidden: 256, vocab: 2048, dtype: 'F32', tied: false, seed: 2 }), { config });
    for (const dir of [base, instruct]) hashes.set(dir, await treeHash(dir));
  });
  after(async () => {
    mock.restoreAll();
    await rm(root, { recursive: true, force: true });
  });

  async function assertCleanAfterwards(prefix: string): Promise<void> {
    assert.deepEqual((await readdir(root)).filter((name) => name.includes(prefix)), [], 'no output, no temporary folder, no lock');
    for (const [dir, hash] of hashes) assert.equal(await treeHash(dir), hash, `${dir} is byte-identical`);
  }

  it('a full disk (ENOSPC) while writing: a clear error, nothing left behind', async () => {
    const realOpen = fsPromises.open;
    const openMock = mock.method(fsPromises, 'open', async (...args: Parameters<typeof fsPromises.open>) => {
      const handle = await realOpen(...args);
      if (!String(args[0]).includes('.partial-')) return handle;
      let writes = 0;
      return new Proxy(handle, {
        get(target, property, receiver) {
          if (property === 'write') {
            return async (...writeArgs: unknown[]) => {
              if (++writes > 3) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
              return (target.write as (...a: unknown[]) => unknown).apply(target, writeArgs);
            };
          }
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    });
    try {
      await assert.rejects(runCompute({ base, instruct, out: join(root, 'full-disk') }), (error: unknown) =>
        error instanceof SurgeonError && error.rule === 'io' && /the disk is full/.test(error.message) && /ENOSPC/.test(error.message));
    } finally {
      openMock.mock.restore();
    }
    await assertCleanAfterwards('full-disk');
  });

  it('an input that changes while it is read stops the job', async () => {
    const out = join(root, 'changed-input');
    let touched = false;
    const shard = join(base, 'model.safetensors');
    await assert.rejects(runCompute({ base, instruct, out }, {
      onProgress: (progress) => {
        if (progress.phase === 'stream' && !touched) {
          touched = true;
          // Same bytes, new mtime: what a download or another tool rewriting the file looks like.
          void utimes(shard, new Date(), new Date(Date.now() + 5000));
        }
      },
    }), (error: unknown) => error instanceof SurgeonError && error.rule === 'input-changed' && error.message.includes(shard));
    hashes.set(base, await treeHash(base));
    await assertCleanAfterwards('changed-input');
  });

  it('a second job writing the same output is refused while the first runs', async () => {
    const out = join(root, 'shared-output');
    let second: Promise<unknown> | undefined;
    const first = runCompute({ base, instruct, out }, {
      onProgress: (progress) => {
        if (progress.phase === 'stream' && !second) second = runApply({ base, residual: instruct, out, force: true }).catch((error: unknown) => error);
      },
    });
    await first;
    const refusal = await second;
    assert.ok(refusal instanceof SurgeonError && refusal.rule === 'output-busy', String(refusal));
  });
});
