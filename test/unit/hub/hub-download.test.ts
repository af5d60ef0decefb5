import assert from 'node:assert/strict';
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { isSurgeonError, type SurgeonError } from '../../../src/engine/errors';
import { listCachedModels, resolveHubId } from '../../../src/engine/hub/hub-cache';
import { downloadCheckpoint, type HubDownloadProgress } from '../../../src/engine/hub/hub-download';
import { FakeHub, gitBlobOid, sha256Hex } from '../../helpers/fake-hub-server';
import { makeIndex, makeSafetensors, REAL_CONFIG, REAL_WEIGHTS } from '../../helpers/hub-test-files';

let root: string;
let cacheDir: string;
let hub: FakeHub;
let caseNumber = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'hub-download-'));
  // No token from the developer's machine may leak into these tests (or change their outcome).
  process.env['HF_HOME'] = join(root, 'hf-home');
  for (const key of ['HF_TOKEN', 'HF_TOKEN_PATH', 'HF_HUB_OFFLINE', 'HF_HUB_CACHE']) delete process.env[key];
});

beforeEach(async () => {
  hub = await FakeHub.start();
  cacheDir = join(root, `cache-${caseNumber++}`);
});

afterEach(async () => {
  await hub.close();
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

const isHubError = (rule: SurgeonError['rule'], pattern: RegExp) => (error: unknown) => {
  assert.ok(isSurgeonError(error), `not a SurgeonError: ${String(error)}`);
  assert.equal(error.rule, rule, error.message);
  assert.match(error.message, pattern);
  return true;
};

async function filesUnder(folder: string): Promise<string[]> {
  try {
    return (await readdir(folder, { recursive: true })).map(String).sort();
  } catch {
    return [];
  }
}

test('downloads only the checkpoint files, in the layout huggingface_hub writes', async () => {
  const commit = hub.addModel('org/single', [
    { path: 'model.safetensors', content: REAL_WEIGHTS },
    { path: 'config.json', content: REAL_CONFIG },
    { path: 'generation_config.json', content: Buffer.from('{"do_sample": true}') },
    { path: 'tokenizer_config.json', content: Buffer.from('{"model_max_length": 4096}') },
    { path: 'README.md', content: Buffer.from('# card') },
    { path: 'pytorch_model.bin', content: Buffer.from('pickle bytes') },
    { path: 'onnx/model.onnx', content: Buffer.from('onnx bytes') },
  ]);
  const progress: HubDownloadProgress[] = [];
  const result = await downloadCheckpoint('org/single', { cacheDir, hubUrl: hub.url, onProgress: (p) => progress.push(p) });

  const folder = join(cacheDir, 'models--org--single');
  assert.equal(result.commit, commit);
  assert.equal(result.path, join(folder, 'snapshots', commit));
  const expected = ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer_config.json'];
  assert.deepEqual([...result.files].sort(), expected);
  assert.deepEqual(await filesUnder(result.path), expected);
  assert.equal(await readFile(join(folder, 'refs', 'main'), 'utf8'), commit);
  // Weights are blobs named by sha256, small files by git blob id, snapshots are relative symlinks.
  assert.equal(await readlink(join(result.path, 'model.safetensors')), `../../blobs/${sha256Hex(REAL_WEIGHTS)}`);
  assert.equal(await readlink(join(result.path, 'config.json')), `../../blobs/${gitBlobOid(REAL_CONFIG)}`);
  assert.ok((await lstat(join(result.path, 'config.json'))).isSymbolicLink());
  assert.deepEqual(await readFile(join(result.path, 'model.safetensors')), REAL_WEIGHTS);
  assert.deepEqual(await readFile(join(result.path, 'config.json')), REAL_CONFIG);

  const fetched = hub.requests.filter((r) => r.path.includes('/resolve/')).map((r) => r.path);
  assert.ok(!fetched.some((path) => /README|pytorch_model|onnx/.test(path)), fetched.join(', '));

  const total = REAL_WEIGHTS.byteLength + REAL_CONFIG.byteLength + 19 + 26;
  assert.equal(result.bytesDownloaded, total);
  assert.equal(progress.at(-1)?.bytesDone, total);
  assert.ok(progress.every((p, i) => p.bytesTotal === total && (i === 0 || p.bytesDone >= progress[i - 1]!.bytesDone)));

  const listed = await listCachedModels(cacheDir);
  assert.deepEqual(listed.models.map((m) => [m.repo, m.revisions[0]?.refs]), [['org/single', ['main']]]);
  assert.equal((await resolveHubId('org/single', cacheDir))?.path, result.path);

  const before = hub.requests.length;
  const again = await downloadCheckpoint('org/single', { cacheDir, hubUrl: hub.url });
  assert.equal(again.bytesDownloaded, 0);
  assert.ok(!hub.requests.slice(before).some((r) => r.path.includes('/resolve/')), 'cached files are not fetched again');
});

test('a sharded repo fetches the shards its index names, not a consolidated copy', async () => {
  const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  hub.addModel('org/sharded', [
    { path: 'model.safetensors.index.json', content: Buffer.from(makeIndex(shards)) },
    { path: shards[0]!, content: makeSafetensors('layers.0.weight', 100) },
    { path: shards[1]!, content: makeSafetensors('layers.1.weight', 60) },
    { path: 'consolidated.safetensors', content: makeSafetensors('all', 160) },
    { path: 'config.json', content: REAL_CONFIG },
  ]);
  const result = await downloadCheckpoint('org/sharded@main', { cacheDir, hubUrl: hub.url });
  assert.deepEqual(await filesUnder(result.path), ['config.json', 'model.safetensors.index.json', ...shards].sort());
  assert.deepEqual(await readFile(join(result.path, shards[1]!)), makeSafetensors('layers.1.weight', 60));
  assert.ok(!hub.requests.some((r) => r.path.includes('consolidated')));

  hub.addModel('org/broken-index', [
    { path: 'model.safetensors.index.json', content: Buffer.from(makeIndex(shards)) },
    { path: shards[0]!, content: makeSafetensors('layers.0.weight', 100) },
  ]);
  await assert.rejects(downloadCheckpoint('org/broken-index', { cacheDir, hubUrl: hub.url }),
    isHubError('missing-shard', /model-00002-of-00002\.safetensors is named by the index but not in the repo/));
});

test('a repo with only pickle weights is refused before anything is written', async () => {
  hub.addModel('org/pickled', [
    { path: 'pytorch_model.bin', content: Buffer.from('pickle') },
    { path: 'config.json', content: REAL_CONFIG },
  ]);
  await assert.rejects(downloadCheckpoint('org/pickled', { cacheDir, hubUrl: hub.url }), isHubError('hub', /only pickle weights \(pytorch_model\.bin\)/));
  assert.deepEqual(await filesUnder(cacheDir), []);
});

test('an unknown repo, a private repo without a token and a rejected token give clear errors without the token', async () => {
  await assert.rejects(downloadCheckpoint('org/absent', { cacheDir, hubUrl: hub.url, accessToken: hub.token }), isHubError('hub', /not found \(404\)/));
  hub.addModel('org/private', [{ path: 'model.safetensors', content: REAL_WEIGHTS }], { private: true });
  await assert.rejects(downloadCheckpoint('org/private', { cacheDir, hubUrl: hub.url }), isHubError('hub', /asks for a token \(401\)/));
  const wrongToken = 'hf_wrongTokenThatMustNotLeak';
  await assert.rejects(downloadCheckpoint('org/private', { cacheDir, hubUrl: hub.url, accessToken: wrongToken }), (error: unknown) => {
    isHubError('hub', /refused the token \(401\)/)(error);
    const surgeonError = error as SurgeonError;
    for (const text of [surgeonError.message, surgeonError.detail, String(error), JSON.stringify(error), String(surgeonError.stack)]) {
      assert.ok(!text.includes(wrongToken), text);
    }
    return true;
  });
  const result = await downloadCheckpoint('org/private', { cacheDir, hubUrl: hub.url, accessToken: hub.token });
  assert.deepEqual(await readFile(join(result.path, 'model.safetensors')), REAL_WEIGHTS);
});

test('a server error, a connection dropped mid-file and a stalled body leave no partial file, and a retry completes', async () => {
  const big = makeSafetensors('w', 200_000);
  hub.addModel('org/flaky', [{ path: 'model.safetensors', content: big }, { path: 'config.json', content: REAL_CONFIG }]);
  const folder = join(cacheDir, 'models--org--flaky');

  hub.fault({ path: /\/resolve\/.*model\.safetensors$/, withRange: false, action: { status: 503 } });
  await assert.rejects(downloadCheckpoint('org/flaky', { cacheDir, hubUrl: hub.url }), isHubError('hub', /503/));
  assert.deepEqual(await filesUnder(join(folder, 'snapshots')), []);
  assert.deepEqual(await filesUnder(join(folder, 'blobs')), []);

  hub.fault({ path: /\/resolve\/.*model\.safetensors$/, withRange: false, action: 'drop-mid-body' });
  await assert.rejects(downloadCheckpoint('org/flaky', { cacheDir, hubUrl: hub.url }), isHubError('hub', /downloading org\/flaky: the connection closed before model\.safetensors was complete/));
  assert.deepEqual(await filesUnder(join(folder, 'snapshots')), []);
  assert.deepEqual(await filesUnder(join(folder, 'blobs')), []);
  assert.deepEqual(await filesUnder(join(folder, 'refs')), []);

  hub.fault({ path: /\/resolve\/.*model\.safetensors$/, withRange: false, action: 'stall-mid-body' });
  await assert.rejects(downloadCheckpoint('org/flaky', { cacheDir, hubUrl: hub.url, bodyStallTimeoutMs: 200 }), isHubError('hub', /no data for 0\.2 s/));
  assert.deepEqual(await filesUnder(join(folder, 'snapshots')), []);
  assert.deepEqual(await filesUnder(join(folder, 'blobs')), []);

  const result = await downloadCheckpoint('org/flaky', { cacheDir, hubUrl: hub.url });
  assert.deepEqual(await readFile(join(result.path, 'model.safetensors')), big);
});

test('cancelling mid-file stops the transfer and leaves no partial file', async () => {
  const big = makeSafetensors('w', 1_000_000);
  hub.addModel('org/slow', [{ path: 'model.safetensors', content: big }]);
  hub.fault({ path: /\/resolve\/.*model\.safetensors$/, withRange: false, action: 'slow-body' });
  const controller = new AbortController();
  let seen = 0;
  await assert.rejects(
    downloadCheckpoint('org/slow', {
      cacheDir, hubUrl: hub.url, signal: controller.signal,
      onProgress: (p) => {
        seen = p.bytesDone;
        controller.abort();
      },
    }),
    isHubError('cancelled', /cancelled/),
  );
  assert.ok(seen > 0 && seen < big.byteLength);
  const folder = join(cacheDir, 'models--org--slow');
  assert.deepEqual(await filesUnder(join(folder, 'snapshots')), []);
  assert.deepEqual(await filesUnder(join(folder, 'blobs')), []);
});

test('a silent server and a refused connection fail fast with a clear message', async () => {
  hub.addModel('org/any', [{ path: 'model.safetensors', content: REAL_WEIGHTS }]);
  hub.fault({ path: /\/api\/models\/org\/any\/revision\//, action: 'hang' });
  const started = Date.now();
  await assert.rejects(downloadCheckpoint('org/any', { cacheDir, hubUrl: hub.url, responseStartTimeoutMs: 300 }), isHubError('hub', /no response within 0\.3 s/));
  assert.ok(Date.now() - started < 5_000);

  const closedPort = await new Promise<number>((done) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => done(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
  await assert.rejects(downloadCheckpoint('org/any', { cacheDir, hubUrl: `http://127.0.0.1:${closedPort}` }), isHubError('hub', /cannot reach .*ECONNREFUSED/));
});

test('HF_HUB_OFFLINE forbids downloads without contacting the Hub', async () => {
  process.env['HF_HUB_OFFLINE'] = '1';
  try {
    await assert.rejects(downloadCheckpoint('org/any', { cacheDir, hubUrl: hub.url }), isHubError('hub', /HF_HUB_OFFLINE/));
    assert.equal(hub.requests.length, 0);
  } finally {
    delete process.env['HF_HUB_OFFLINE'];
  }
});
