import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isSurgeonError } from '../../../src/engine/errors';
import { resolveCheckpoint, resolveCheckpointPath } from '../../../src/engine/hub/resolve-checkpoint';
import { FakeHub } from '../../helpers/fake-hub-server';
import { makeHfCache } from '../../helpers/make-hf-cache';
import { makeIndex, makeSafetensors, REAL_CONFIG, REAL_WEIGHTS } from '../../helpers/hub-test-files';

const CACHED = 'c'.repeat(40);
const PARTIAL = 'd'.repeat(40);
const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];

let root: string;
let cacheDir: string;
let hub: FakeHub;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'resolve-checkpoint-'));
  process.env['HF_HOME'] = join(root, 'hf-home');
  for (const key of ['HF_TOKEN', 'HF_TOKEN_PATH', 'HF_HUB_OFFLINE', 'HF_HUB_CACHE']) delete process.env[key];
  cacheDir = join(root, 'cache');
  await makeHfCache(cacheDir, [
    { repo: 'org/cached', revisions: [{ commit: CACHED, refs: ['main'], files: { 'model.safetensors': REAL_WEIGHTS, 'config.json': REAL_CONFIG } }] },
    // A sharded model of which only the index and the first shard were fetched.
    { repo: 'org/partial', revisions: [{ commit: PARTIAL, refs: ['main'], files: { 'model.safetensors.index.json': makeIndex(shards), [shards[0]!]: makeSafetensors('layers.0.weight', 10) } }] },
  ]);
  await mkdir(join(root, 'work', 'org', 'cached'), { recursive: true });
  await writeFile(join(root, 'work', 'org', 'cached', 'model.safetensors'), REAL_WEIGHTS);
  hub = await FakeHub.start();
});

after(async () => {
  await hub.close();
  await rm(root, { recursive: true, force: true });
});

test('an existing path wins over a Hub id of the same spelling', async () => {
  const resolved = await resolveCheckpoint('org/cached', { cwd: join(root, 'work'), cacheDir });
  assert.deepEqual(resolved, { path: join(root, 'work', 'org', 'cached'), source: 'path' });
  const file = join(root, 'work', 'org', 'cached', 'model.safetensors');
  assert.equal(await resolveCheckpointPath(file, { cacheDir }), file);
});

test('a cached id resolves to its snapshot without the network', async () => {
  const before = hub.requests.length;
  const resolved = await resolveCheckpoint('org/cached', { cwd: root, cacheDir, allowDownload: true, hubUrl: hub.url });
  assert.equal(resolved.source, 'cache');
  assert.equal(resolved.path, join(cacheDir, 'models--org--cached', 'snapshots', CACHED));
  assert.deepEqual(resolved.hub, { repo: 'org/cached', revision: 'main', commit: CACHED });
  assert.deepEqual(await readFile(join(resolved.path, 'model.safetensors')), REAL_WEIGHTS);
  assert.equal(hub.requests.length, before);
});

test('a missing path and an id that is neither cached nor downloadable are refused clearly', async () => {
  await assert.rejects(resolveCheckpoint('./no-such-folder', { cwd: root, cacheDir }),
    (error: unknown) => isSurgeonError(error) && error.rule === 'usage' && /no such file or folder/.test(error.message));
  await assert.rejects(resolveCheckpoint('org/elsewhere', { cwd: root, cacheDir }),
    (error: unknown) => isSurgeonError(error) && error.rule === 'hub' && /not in the Hugging Face cache.*pass --download to fetch it into the cache/.test(error.message));
  await assert.rejects(resolveCheckpoint('org/partial', { cwd: root, cacheDir }),
    (error: unknown) => isSurgeonError(error) && error.rule === 'hub' && error.message.includes(`lacks ${shards[1]}`));
  await assert.rejects(resolveCheckpoint('bad id with spaces', { cwd: root, cacheDir }),
    (error: unknown) => isSurgeonError(error) && error.rule === 'usage');
});

test('an uncached id is downloaded when allowed, then found in the cache', async () => {
  const commit = hub.addModel('org/remote', [{ path: 'model.safetensors', content: REAL_WEIGHTS }, { path: 'config.json', content: REAL_CONFIG }]);
  let progressCalls = 0;
  const first = await resolveCheckpoint('org/remote', { cwd: root, cacheDir, allowDownload: true, hubUrl: hub.url, onProgress: () => progressCalls++ });
  assert.equal(first.source, 'download');
  assert.equal(first.path, join(cacheDir, 'models--org--remote', 'snapshots', commit));
  assert.ok(progressCalls > 0);
  assert.deepEqual(await readFile(join(first.path, 'model.safetensors')), REAL_WEIGHTS);
  const requests = hub.requests.length;
  const second = await resolveCheckpoint('org/remote', { cwd: root, cacheDir, hubUrl: hub.url });
  assert.equal(second.source, 'cache');
  assert.equal(second.path, first.path);
  assert.equal(hub.requests.length, requests);
});

test('a partly cached model fetches only what it lacks', async () => {
  const second = makeSafetensors('layers.1.weight', 10);
  // The Hub's main is the commit the cache holds in part, so the download fills that snapshot.
  hub.addModel('org/partial', [
    { path: 'model.safetensors.index.json', content: Buffer.from(makeIndex(shards)) },
    { path: shards[0]!, content: makeSafetensors('layers.0.weight', 10) },
    { path: shards[1]!, content: second },
  ], { commit: PARTIAL });

  const resolved = await resolveCheckpoint('org/partial', { cwd: root, cacheDir, allowDownload: true, hubUrl: hub.url });
  assert.equal(resolved.path, join(cacheDir, 'models--org--partial', 'snapshots', PARTIAL));
  assert.deepEqual((await readdir(resolved.path)).sort(), ['model.safetensors.index.json', ...shards].sort());
  assert.deepEqual(await readFile(join(resolved.path, shards[1]!)), second);
  const fetched = hub.requests.filter((r) => r.path.includes('/resolve/') && r.range === undefined).map((r) => r.path);
  assert.deepEqual(fetched.filter((path) => path.includes('org/partial/')), [`/org/partial/resolve/${PARTIAL}/${shards[1]}`]);
});
