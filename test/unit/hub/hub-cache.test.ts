import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isSurgeonError } from '../../../src/engine/errors';
import { hubCacheDir, listCachedModels, resolveHubId } from '../../../src/engine/hub/hub-cache';
import { makeHfCache, type BuiltCacheModel } from '../../helpers/make-hf-cache';

const fixtures = join(__dirname, '../../fixtures/hub');
const MAIN = 'a'.repeat(8) + '1'.repeat(32);
const DEV = 'a'.repeat(8) + '2'.repeat(32);
const BETA = 'b'.repeat(40);

let root: string;
let cacheDir: string;
let built: Map<string, BuiltCacheModel>;
let weights: Buffer;
let config: Buffer;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'hub-cache-'));
  cacheDir = join(root, 'hub');
  weights = await readFile(join(fixtures, 'linear__linear_with_bias.safetensors'));
  config = await readFile(join(fixtures, 'minicpm3-config.json'));
  built = await makeHfCache(cacheDir, [
    {
      repo: 'org/alpha',
      revisions: [
        // Two revisions share the weights blob and differ in config.json.
        { commit: MAIN, refs: ['main'], files: { 'model.safetensors': weights, 'config.json': config } },
        { commit: DEV, refs: ['dev', 'v1.0'], files: { 'model.safetensors': weights, 'config.json': '{"changed": true}' } },
      ],
    },
    { repo: 'other-org/beta', revisions: [{ commit: BETA, refs: ['main'], files: { 'model.safetensors': weights } }] },
  ]);
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('lists every cached model with its revisions, refs, snapshot paths and size on disk', async () => {
  const list = await listCachedModels(cacheDir);
  assert.deepEqual(list.warnings, []);
  assert.deepEqual(list.models.map((model) => model.repo), ['org/alpha', 'other-org/beta']);
  const alpha = list.models[0]!;
  const alphaBlobs = built.get('org/alpha')!.blobs;
  assert.equal(alpha.sizeOnDisk, [...alphaBlobs.values()].reduce((a, b) => a + b, 0));
  assert.equal(alphaBlobs.size, 3, 'the shared weights blob is stored once');
  const byCommit = new Map(alpha.revisions.map((revision) => [revision.commit, revision]));
  assert.deepEqual(byCommit.get(MAIN)?.refs, ['main']);
  assert.deepEqual(byCommit.get(DEV)?.refs, ['dev', 'v1.0']);
  assert.deepEqual(byCommit.get(MAIN)?.files, ['config.json', 'model.safetensors']);
  assert.equal(byCommit.get(MAIN)?.size, weights.byteLength + config.byteLength);
  assert.equal(byCommit.get(DEV)?.path, join(built.get('org/alpha')!.folder, 'snapshots', DEV));
});

test('an absent cache folder lists nothing', async () => {
  const list = await listCachedModels(join(root, 'no-such-cache'));
  assert.deepEqual(list.models, []);
});

test('resolves main by default, branches and tags through refs, full and short commits', async () => {
  const snapshot = (commit: string) => join(built.get('org/alpha')!.folder, 'snapshots', commit);
  assert.equal((await resolveHubId('org/alpha', cacheDir))?.path, snapshot(MAIN));
  assert.equal((await resolveHubId('org/alpha@dev', cacheDir))?.commit, DEV);
  assert.equal((await resolveHubId('org/alpha@v1.0', cacheDir))?.path, snapshot(DEV));
  assert.equal((await resolveHubId(`org/alpha@${DEV}`, cacheDir))?.path, snapshot(DEV));
  assert.equal((await resolveHubId(`org/alpha@${DEV.slice(0, 12)}`, cacheDir))?.commit, DEV);
  const resolved = await resolveHubId('org/alpha@dev', cacheDir);
  assert.equal(await readFile(join(resolved!.path, 'config.json'), 'utf8'), '{"changed": true}');
  assert.deepEqual(await readFile(join(resolved!.path, 'model.safetensors')), weights);
});

test('a commit prefix shared by two snapshots is refused as ambiguous', async () => {
  await assert.rejects(resolveHubId(`org/alpha@${MAIN.slice(0, 8)}`, cacheDir),
    (error: unknown) => isSurgeonError(error) && error.rule === 'usage' && /ambiguous/.test(error.message));
});

test('revisions and models that are not cached resolve to undefined', async () => {
  assert.equal(await resolveHubId('org/alpha@nope', cacheDir), undefined);
  assert.equal(await resolveHubId(`org/alpha@${'c'.repeat(40)}`, cacheDir), undefined);
  assert.equal(await resolveHubId('org/missing', cacheDir), undefined);
  assert.equal(await resolveHubId('other-org/beta@dev', cacheDir), undefined);
});

test('the cache folder follows HF_HUB_CACHE, then HF_HOME', () => {
  const saved = { HF_HUB_CACHE: process.env['HF_HUB_CACHE'], HF_HOME: process.env['HF_HOME'], HUGGINGFACE_HUB_CACHE: process.env['HUGGINGFACE_HUB_CACHE'] };
  try {
    delete process.env['HUGGINGFACE_HUB_CACHE'];
    process.env['HF_HOME'] = join(root, 'home');
    delete process.env['HF_HUB_CACHE'];
    assert.equal(hubCacheDir(), join(root, 'home', 'hub'));
    process.env['HF_HUB_CACHE'] = join(root, 'explicit');
    assert.equal(hubCacheDir(), join(root, 'explicit'));
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
});
