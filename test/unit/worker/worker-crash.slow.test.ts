/**
 * A job worker that dies mid-job: the host's JobWorker (src/extension/job-worker.ts, which uses
 * `vscode` for types only) drives the real worker entry src/worker/main.ts in a real worker
 * thread. A small wrapper makes the worker die as soon as the job creates its output file.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type * as vscode from 'vscode';
import { runCompute } from '../../../src/engine/jobs';
import { JobWorker } from '../../../src/extension/job-worker';
import { removePartialOutput, snapshotOutput } from '../../../src/extension/partial-output';
import { llamaLikeTensors, writeCheckpoint } from '../../helpers/make-checkpoint';

const WORKER_ENTRY = resolve(__dirname, '../../../src/worker/main.ts');

/** Output names that make the wrapped worker die, and how. */
const CRASH_SCRIPT = `
import { createRequire } from 'node:module';
import fsPromises from 'node:fs/promises';
const realOpen = fsPromises.open;
fsPromises.open = async (...args) => {
  const handle = await realOpen(...args);
  const path = String(args[0]);
  const forWriting = args[1] !== undefined && args[1] !== 'r';
  if (forWriting && path.includes('.partial-')) {
    if (path.includes('exit-mid-job')) process.exit(7);
    if (path.includes('throw-mid-job')) setImmediate(() => { throw new Error('the worker blew up on purpose'); });
  }
  return handle;
};
// Worker threads do not inherit the test runner's TypeScript loader.
const require = createRequire(import.meta.url);
require(${JSON.stringify(require.resolve('tsx/cjs/api'))}).register();
require(${JSON.stringify(WORKER_ENTRY)});
`;

async function treeHash(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const name of (await readdir(dir)).sort()) hash.update(name).update(await readFile(join(dir, name)));
  return hash.digest('hex');
}

function recordingLog(lines: string[]): vscode.LogOutputChannel {
  const record = (level: string) => (message: string) => void lines.push(`${level}: ${message}`);
  return { info: record('info'), warn: record('warn'), error: record('error'), debug: record('debug'), trace: record('trace') } as unknown as vscode.LogOutputChannel;
}

describe('a job worker that crashes mid-job', () => {
  let root: string;
  let base: string;
  let instruct: string;
  let worker: JobWorker;
  const log: string[] = [];
  const hashes = new Map<string, string>();

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-worker-crash-'));
    base = join(root, 'base');
    instruct = join(root, 'instruct');
    const config = { model_type: 'llama', hidden_size: 64, num_hidden_layers: 2, vocab_size: 256 };
    await writeCheckpoint(base, llamaLikeTensors({ layers: 2, hidden: 64, vocab: 256, dtype: 'F32', tied: false, seed: 1 }), { config });
    await writeCheckpoint(instruct, llamaLikeTensors({ layers: 2, hidden: 64, vocab: 256, dtype: 'F32', tied: false, seed: 2 }), { config });
    for (const dir of [base, instruct]) hashes.set(dir, await treeHash(dir));
    const script = join(root, 'crashing-worker.mjs');
    await writeFile(script, CRASH_SCRIPT);
    worker = new JobWorker(script, { computeBackend: 'js', threads: 1 }, recordingLog(log));
  });
  after(async () => {
    worker.dispose();
    await rm(root, { recursive: true, force: true });
  });

  const crashes = [
    { how: 'process.exit', name: 'exit-mid-job', expected: /exited unexpectedly \(code 7\)/, next: 'after-exit' },
    { how: 'an uncaught throw', name: 'throw-mid-job', expected: /the worker blew up on purpose/, next: 'after-throw' },
  ];
  for (const { how, name, expected, next } of crashes) {
    it(`${how} rejects the pending job readably; the host cleans up and a new job afterwards works`, async () => {
      const out = join(root, name);
      const snapshot = await snapshotOutput(out);
      await assert.rejects(worker.run('compute', { base, instruct, out }, {}), expected);
      assert.ok((await readdir(root)).some((entry) => entry.startsWith(`.${name}.partial-`)), 'the crashed job left its temporary folder');

      const removed = await removePartialOutput(snapshot);
      assert.ok(removed.some((path) => path.includes(`.${name}.partial-`)), `the host removed the temporary folder (${removed.join(', ')})`);
      assert.deepEqual((await readdir(root)).filter((entry) => entry === name || entry.startsWith(`.${name}.`)), [], 'no output, no temporary folder, no lock');
      for (const [dir, hash] of hashes) assert.equal(await treeHash(dir), hash, `${dir} is byte-identical`);

      // A fresh worker starts for the next job; the wrapper only crashes on the names above.
      const retry = join(root, next);
      const result = await worker.run('compute', { base, instruct, out: retry }, {});
      assert.equal(result.out, retry);
      assert.ok((await readdir(retry)).includes('model.safetensors'));
    });
  }

  it('a job to the very output a crashed worker was writing is not refused as busy', async () => {
    const out = join(root, 'exit-mid-job');
    const snapshot = await snapshotOutput(out);
    await assert.rejects(worker.run('compute', { base, instruct, out }, {}), /exited unexpectedly/);
    await removePartialOutput(snapshot);
    // The same output, now through a job in this thread (the wrapper would crash the worker again on this name).
    const result = await runCompute({ base, instruct, out });
    assert.equal(result.out, out);
    assert.ok(log.some((line) => /exited with code 7/.test(line)), 'the host logged the crash');
  });
});
