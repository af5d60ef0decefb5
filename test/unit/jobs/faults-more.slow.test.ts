import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fsPromises from 'node:fs/promises';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { SurgeonError } from '../../../src/engine/errors';
import { runApply, runCompute } from '../../../src/engine/jobs';
import { createJsKernels } from '../../../src/engine/kernels/js-kernels';
import type { JobCallbacks, JobProgress } from '../../../src/shared/jobs';
import { llamaLikeTensors, writeCheckpoint } from '../../helpers/make-checkpoint';

async function treeHash(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const name of (await readdir(dir)).sort()) hash.update(name).update(await readFile(join(dir, name)));
  return hash.digest('hex');
}

function errnoError(code: string, syscall: string, path: string, text: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${text}, ${syscall} '${path}'`), { code, syscall, path });
}

describe('more faults: permissions, kernel failures and cancel leave nothing behind', () => {
  let root: string;
  let base: string;
  let instruct: string;
  let residual: string;
  const hashes = new Map<string, string>();
  type Job = 'compute' | 'apply';
  const run = (job: Job, out: string, callbacks: JobCallbacks = {}): Promise<unknown> =>
    job === 'compute' ? runCompute({ base, instruct, out }, callbacks) : runApply({ base, residual, out }, callbacks);

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-faults-more-'));
    base = join(root, 'base');
    instruct = join(root, 'instruct');
    residual = join(root, 'residual');
    const config = { model_type: 'llama', hidden_size: 128, num_hidden_layers: 2, vocab_size: 1024 };
    await writeCheckpoint(base, llamaLikeTensors({ layers: 2, hidden: 128, vocab: 1024, dtype: 'F32', tied: false, seed: 1 }), { config });
    await writeCheckpoint(instruct, llamaLikeTensors({ layers: 2, hidden: 128, vocab: 1024, dtype: 'F32', tied: false, seed: 2 }), { config });
    await runCompute({ base, instruct, out: residual });
    for (const dir of [base, instruct, residual]) hashes.set(dir, await treeHash(dir));
  });
  after(async () => {
    mock.restoreAll();
    await rm(root, { recursive: true, force: true });
  });

  /** No output, no temporary folder, no lock; every input byte-identical. */
  async function assertCleanAfterwards(name: string): Promise<void> {
    const left = (await readdir(root)).filter((entry) => entry === name || entry.startsWith(`.${name}.`));
    assert.deepEqual(left, [], 'no output, no temporary folder, no lock');
    for (const [dir, hash] of hashes) assert.equal(await treeHash(dir), hash, `${dir} is byte-identical`);
  }

  /** A later job to the same output runs to the end and leaves a complete checkpoint. */
  async function assertNextJobSucceeds(job: Job, name: string): Promise<void> {
    const out = join(root, name);
    await run(job, out);
    assert.ok((await readdir(out)).includes('model.safetensors'), 'the next job wrote its output');
    await rm(out, { recursive: true });
  }

  for (const job of ['compute', 'apply'] as const) {
    it(`${job}: permission denied creating the output file is a clear error, nothing left behind`, async () => {
      const name = `${job}-eacces-open`;
      const realOpen = fsPromises.open;
      const openMock = mock.method(fsPromises, 'open', async (...args: Parameters<typeof fsPromises.open>) => {
        const path = String(args[0]);
        const forWriting = args[1] !== undefined && args[1] !== 'r';
        if (path.includes(`.${name}.partial-`) && forWriting) throw errnoError('EACCES', 'open', path, 'permission denied');
        return realOpen(...args);
      });
      try {
        await assert.rejects(run(job, join(root, name)), (error: unknown) => {
          assert.ok(error instanceof SurgeonError, String(error));
          assert.equal(error.rule, 'io');
          assert.match(error.message, /permission denied/);
          assert.match(error.message, /EACCES/);
          assert.ok(error.file?.includes(name), `the error names the file: ${error.file}`);
          return true;
        });
        assert.ok(openMock.mock.calls.some((call) => String(call.arguments[0]).includes(`.${name}.partial-`)), 'the output file was opened');
      } finally {
        openMock.mock.restore();
      }
      await assertCleanAfterwards(name);
      await assertNextJobSucceeds(job, name);
    });

    it(`${job}: permission denied renaming the finished output into place is a clear error, nothing left behind`, async () => {
      const name = `${job}-eacces-rename`;
      const target = join(root, name);
      const realRename = fsPromises.rename;
      const renameMock = mock.method(fsPromises, 'rename', async (from: string, to: string) => {
        if (String(to) === target) throw errnoError('EACCES', 'rename', String(from), 'permission denied');
        return realRename(from, to);
      });
      try {
        await assert.rejects(run(job, target), (error: unknown) => {
          assert.ok(error instanceof SurgeonError, String(error));
          assert.equal(error.rule, 'io');
          assert.match(error.message, /permission denied/);
          assert.equal(error.file, target, 'the error names the output');
          return true;
        });
        const commits = renameMock.mock.calls.filter((call) => String(call.arguments[1]) === target);
        assert.equal(commits.length, 1, 'the commit tried the rename once');
      } finally {
        renameMock.mock.restore();
      }
      await assertCleanAfterwards(name);
      await assertNextJobSucceeds(job, name);
    });

    it(`${job}: an exception thrown by the kernel mid-tensor fails the job, no partial output`, async () => {
      const name = `${job}-kernel-throws`;
      const previousBackend = process.env['CHECKPOINT_SURGEON_BACKEND'];
      process.env['CHECKPOINT_SURGEON_BACKEND'] = 'js';
      // The jobs load a fresh JsKernels per run; its prototype is the seam every instance shares.
      const prototype = Object.getPrototypeOf(createJsKernels()) as Record<'subtract' | 'addScaled', (...args: unknown[]) => void>;
      const method = job === 'compute' ? 'subtract' : 'addScaled';
      const real = prototype[method];
      let calls = 0;
      const kernelMock = mock.method(prototype, method, function (this: unknown, ...args: unknown[]) {
        if (++calls === 3) throw new RangeError('kernel exploded on purpose');
        return real.apply(this, args);
      });
      try {
        await assert.rejects(run(job, join(root, name)), /kernel exploded on purpose/);
        assert.equal(calls, 3, 'the job stopped at the failing piece');
      } finally {
        kernelMock.mock.restore();
        if (previousBackend === undefined) delete process.env['CHECKPOINT_SURGEON_BACKEND'];
        else process.env['CHECKPOINT_SURGEON_BACKEND'] = previousBackend;
      }
      await assertCleanAfterwards(name);
      await assertNextJobSucceeds(job, name);
    });

    const cancelPoints: Array<{ point: string; when(progress: JobProgress): boolean }> = [
      { point: 'during the plan', when: (progress) => progress.phase === 'plan' },
      { point: 'mid-stream', when: (progress) => progress.phase === 'stream' && progress.tensorsDone >= 2 },
      // After the last piece: the shards are being synced and the folder is about to be renamed.
      { point: 'after the stream', when: (progress) => progress.phase === 'finalize' || (progress.phase === 'stream' && progress.tensorsDone === progress.tensorsTotal) },
    ];
    for (const { point, when } of cancelPoints) {
      it(`${job}: cancel ${point} leaves nothing behind and the output stays usable`, async () => {
        const name = `${job}-cancel-${point.replaceAll(' ', '-')}`;
        const controller = new AbortController();
        const phases: string[] = [];
        await assert.rejects(run(job, join(root, name), {
          signal: controller.signal,
          onProgress: (progress) => {
            phases.push(progress.phase);
            if (when(progress)) controller.abort();
          },
        }), (error: unknown) => error instanceof SurgeonError && error.rule === 'cancelled');
        assert.ok(controller.signal.aborted, `the cancel point was reached (phases seen: ${[...new Set(phases)].join(', ')})`);
        await assertCleanAfterwards(name);
        await assertNextJobSucceeds(job, name);
      });
    }
  }
});
