import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { isSurgeonError, type SurgeonError } from '../../../src/engine/errors';
import { pushToHub, type HubPushProgress } from '../../../src/engine/hub/hub-push';
import { FakeHub } from '../../helpers/fake-hub-server';
import { makeSafetensors, REAL_CONFIG, REAL_WEIGHTS } from '../../helpers/hub-test-files';

let root: string;
let folder: string;
let hub: FakeHub;
const card = '---\nbase_model: org/base\n---\n# A residual\n';
const shard = makeSafetensors('layers.0.weight', 300_000);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'hub-push-'));
  process.env['HF_HOME'] = join(root, 'hf-home');
  for (const key of ['HF_TOKEN', 'HF_TOKEN_PATH', 'HF_HUB_OFFLINE']) delete process.env[key];
  folder = join(root, 'residual');
  await mkdir(folder);
  await writeFile(join(folder, 'model.safetensors'), REAL_WEIGHTS);
  await writeFile(join(folder, 'extra.safetensors'), shard);
  await writeFile(join(folder, 'config.json'), REAL_CONFIG);
  await writeFile(join(folder, 'README.md'), card);
  await writeFile(join(folder, '.surgeon-lock'), 'not pushed');
});

beforeEach(async () => {
  hub = await FakeHub.start({ token: 'hf_writeTokenForTests', user: 'alice' });
});

afterEach(async () => {
  await hub.close();
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('creates a private repo and uploads the folder with its model card in one commit', async () => {
  const progress: HubPushProgress[] = [];
  const result = await pushToHub({
    folder, repo: 'alice/my-residual', accessToken: hub.token, hubUrl: hub.url, onProgress: (p) => progress.push(p),
  });
  assert.equal(result.repo, 'alice/my-residual');
  assert.equal(result.created, true);
  assert.equal(result.private, true);
  assert.equal(hub.repos.get('alice/my-residual')?.private, true);
  assert.equal(result.commit, hub.headCommit('alice/my-residual'));
  assert.deepEqual(result.files, ['README.md', 'config.json', 'extra.safetensors', 'model.safetensors']);

  const files = hub.headFiles('alice/my-residual');
  assert.deepEqual(files.get('model.safetensors'), REAL_WEIGHTS);
  assert.deepEqual(files.get('extra.safetensors'), shard);
  assert.deepEqual(files.get('config.json'), REAL_CONFIG);
  assert.equal(files.get('README.md')?.toString('utf8'), card);
  assert.ok(!files.has('.surgeon-lock'));
  // Weights went through the LFS upload endpoint, small files inline in the commit.
  const lfsPuts = hub.requests.filter((r) => r.method === 'PUT' && r.path.startsWith('/__lfs-upload/'));
  assert.equal(lfsPuts.length, 2);

  const total = REAL_WEIGHTS.byteLength + shard.byteLength + REAL_CONFIG.byteLength + Buffer.byteLength(card);
  assert.equal(result.bytes, total);
  assert.ok(progress.every((p) => p.bytesTotal === total));
  assert.equal(progress.at(-1)?.phase, 'committing');
  const last = progress.at(-1)!;
  assert.equal(last.bytesHashed, REAL_WEIGHTS.byteLength + shard.byteLength);
  assert.ok(last.bytesUploaded >= REAL_WEIGHTS.byteLength + shard.byteLength);
});

test('a bare name pushes under the token owner; an existing repo is reused; a model card can be given', async () => {
  await pushToHub({ folder, repo: 'again', accessToken: hub.token, hubUrl: hub.url, private: false });
  assert.equal(hub.repos.get('alice/again')?.private, false);
  const second = await pushToHub({ folder, repo: 'alice/again', accessToken: hub.token, hubUrl: hub.url, modelCard: '# replaced\n' });
  assert.equal(second.created, false);
  assert.equal(second.private, undefined);
  assert.equal(hub.headFiles('alice/again').get('README.md')?.toString('utf8'), '# replaced\n');
  assert.equal(hub.repos.get('alice/again')?.commits.size, 3);
});

test('the token comes from HF_TOKEN or the token file when no argument is given', async () => {
  process.env['HF_TOKEN'] = hub.token;
  try {
    assert.equal((await pushToHub({ folder, repo: 'alice/env', hubUrl: hub.url })).created, true);
  } finally {
    delete process.env['HF_TOKEN'];
  }
  await mkdir(join(root, 'hf-home'), { recursive: true });
  await writeFile(join(root, 'hf-home', 'token'), `${hub.token}\n`);
  try {
    assert.equal((await pushToHub({ folder, repo: 'alice/file', hubUrl: hub.url })).created, true);
  } finally {
    await rm(join(root, 'hf-home', 'token'));
  }
  await assert.rejects(pushToHub({ folder, repo: 'alice/none', hubUrl: hub.url }),
    (error: unknown) => isSurgeonError(error) && error.rule === 'hub' && /needs a Hugging Face token/.test(error.message));
  assert.equal(hub.repos.has('alice/none'), false);
});

test('a rejected token gives a 401 error that does not contain the token, even when the server echoes it', async () => {
  const secret = 'hf_thisSecretMustNeverBeShown';
  const refused = () => (error: unknown) => {
    assert.ok(isSurgeonError(error));
    assert.equal(error.rule, 'hub');
    assert.match(error.message, /refused the token \(401\)/);
    const surgeonError = error as SurgeonError;
    for (const text of [surgeonError.message, surgeonError.detail, String(error), JSON.stringify(error), String(surgeonError.stack)]) {
      assert.ok(!text.includes(secret), text);
    }
    return true;
  };
  await assert.rejects(pushToHub({ folder, repo: 'alice/denied', accessToken: secret, hubUrl: hub.url }), refused());
  hub.fault({ path: /^\/api\/repos\/create$/, action: { status: 401, json: { error: `Invalid credentials: Bearer ${secret}` } } });
  await assert.rejects(pushToHub({ folder, repo: 'alice/denied', accessToken: secret, hubUrl: hub.url }), refused());
});

test('a folder without a model card, a server failure and a cancelled push are refused clearly', async () => {
  const bare = join(root, 'bare');
  await mkdir(bare, { recursive: true });
  await writeFile(join(bare, 'model.safetensors'), REAL_WEIGHTS);
  await assert.rejects(pushToHub({ folder: bare, repo: 'alice/bare', accessToken: hub.token, hubUrl: hub.url }),
    (error: unknown) => isSurgeonError(error) && /no README\.md model card/.test(error.message));

  hub.fault({ method: 'POST', path: /\/commit\/main$/, action: { status: 500 } });
  await assert.rejects(pushToHub({ folder, repo: 'alice/broken', accessToken: hub.token, hubUrl: hub.url }),
    (error: unknown) => isSurgeonError(error) && error.rule === 'hub' && /the Hub failed \(500\)/.test(error.message));
  assert.equal(hub.headFiles('alice/broken').has('model.safetensors'), false);

  const controller = new AbortController();
  await assert.rejects(
    pushToHub({
      folder, repo: 'alice/cancelled', accessToken: hub.token, hubUrl: hub.url, signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'uploadingLargeFiles') controller.abort();
      },
    }),
    (error: unknown) => isSurgeonError(error) && error.rule === 'cancelled',
  );
  assert.equal(hub.headFiles('alice/cancelled').has('model.safetensors'), false);
});
