/**
 * The workerThreads and computeBackend settings reach the engine: the host's JobWorker starts its
 * worker thread with the variables of src/shared/environment.ts, and the engine's own readers
 * (kernelThreads, productThreads, the job kernels' backend) see them inside that thread. The worker
 * here is a probe that answers every job with what the engine read, through the real protocol.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type * as vscode from 'vscode';
import { kernelThreads } from '../../../src/engine/kernels/wasm-kernels';
import { productThreads } from '../../../src/engine/spectra/product-threads';
import { JobWorker, workerEnvironment } from '../../../src/extension/job-worker';
import { MAX_KERNEL_THREADS, SURGEON_ENV } from '../../../src/shared/environment';

const REPO = resolve(__dirname, '../../..');

/** Answers each RunJob request with a card result whose path is the JSON of what the engine read. */
const PROBE_SCRIPT = `
import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';
const require = createRequire(import.meta.url);
// Worker threads do not inherit the test runner's TypeScript loader.
require(${JSON.stringify(require.resolve('tsx/cjs/api'))}).register();
const { kernelThreads } = require(${JSON.stringify(join(REPO, 'src/engine/kernels/wasm-kernels.ts'))});
const { productThreads } = require(${JSON.stringify(join(REPO, 'src/engine/spectra/product-threads.ts'))});
parentPort.on('message', (envelope) => {
  if (envelope.body.type !== 'run-job') return;
  const read = {
    kernelThreads: kernelThreads(),
    productThreads: productThreads(),
    threadsVariable: process.env[${JSON.stringify(SURGEON_ENV.kernelThreads)}] ?? null,
    backendVariable: process.env[${JSON.stringify(SURGEON_ENV.backend)}] ?? null,
  };
  parentPort.postMessage({ inReplyTo: envelope.messageId, body: { type: 'job-succeeded', jobId: envelope.body.jobId, result: { kind: 'card', path: JSON.stringify(read) } } });
});
`;

interface EngineRead {
  kernelThreads: number;
  productThreads: number;
  threadsVariable: string | null;
  backendVariable: string | null;
}

const quietLog = { info() {}, warn() {}, error() {}, debug() {}, trace() {} } as unknown as vscode.LogOutputChannel;

describe('the worker settings reach the engine', () => {
  let root: string;
  let script: string;
  const workers: JobWorker[] = [];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-worker-settings-'));
    script = join(root, 'probe-worker.mjs');
    await writeFile(script, PROBE_SCRIPT);
  });
  after(async () => {
    for (const worker of workers) worker.dispose();
    await rm(root, { recursive: true, force: true });
  });

  async function engineRead(worker: JobWorker): Promise<EngineRead> {
    const result = await worker.run('card', { dir: root }, {});
    return JSON.parse(result.path) as EngineRead;
  }

  function startWorker(threads: number, computeBackend = 'auto'): JobWorker {
    const worker = new JobWorker(script, { computeBackend, threads }, quietLog);
    workers.push(worker);
    return worker;
  }

  it('workerThreads 3 and computeBackend js: the worker thread has the variables and the engine uses 3 threads', async () => {
    const read = await engineRead(startWorker(3, 'js'));
    assert.equal(read.threadsVariable, '3');
    assert.equal(read.backendVariable, 'js');
    assert.equal(read.kernelThreads, 3);
    assert.equal(read.productThreads, 3);
  });

  it('a changed setting reaches the next job through a fresh worker', async () => {
    const worker = startWorker(2);
    assert.equal((await engineRead(worker)).kernelThreads, 2);
    worker.updateSettings({ computeBackend: 'wasm', threads: 1 });
    const read = await engineRead(worker);
    assert.equal(read.kernelThreads, 1);
    assert.equal(read.backendVariable, 'wasm');
  });

  it('workerThreads 0 leaves the choice to the engine (and the variable to the host environment)', async () => {
    const read = await engineRead(startWorker(0));
    assert.equal(read.threadsVariable, process.env[SURGEON_ENV.kernelThreads] ?? null);
    assert.equal(read.kernelThreads, kernelThreads(process.env));
  });
});

describe('workerEnvironment', () => {
  it('sets the engine variables from the settings and keeps the rest of the host environment', () => {
    const env = workerEnvironment({ computeBackend: 'wasm', threads: 4 }, { PATH: '/bin', [SURGEON_ENV.kernelThreads]: '7' });
    assert.deepEqual(env, { PATH: '/bin', [SURGEON_ENV.kernelThreads]: '4', [SURGEON_ENV.backend]: 'wasm' });
    assert.equal(kernelThreads(env), 4);
    assert.equal(productThreads(env), 4);
  });

  it('settings at their defaults leave the host variables alone', () => {
    const host = { [SURGEON_ENV.kernelThreads]: '2', [SURGEON_ENV.backend]: 'js' };
    assert.deepEqual(workerEnvironment({ computeBackend: 'auto', threads: 0 }, host), host);
    assert.deepEqual(workerEnvironment({ computeBackend: 'auto', threads: 0 }, {}), {});
  });

  it('a thread count above the engine cap is capped, as the engine caps the variable', () => {
    const env = workerEnvironment({ computeBackend: 'auto', threads: 64 }, {});
    assert.equal(env[SURGEON_ENV.kernelThreads], String(MAX_KERNEL_THREADS));
    assert.equal(kernelThreads({ [SURGEON_ENV.kernelThreads]: '64' }), MAX_KERNEL_THREADS);
  });
});

describe('the workerThreads setting in package.json', () => {
  it('allows exactly the engine cap', async () => {
    const manifest = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {
      contributes: { configuration: { properties: Record<string, { minimum?: number; maximum?: number; default?: unknown }> } };
    };
    const setting = manifest.contributes.configuration.properties['checkpointSurgeon.workerThreads'];
    assert.equal(setting?.maximum, MAX_KERNEL_THREADS);
    assert.equal(setting?.minimum, 0);
    assert.equal(setting?.default, 0);
  });
});
