import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hubTokenFile, redactSecret, resolveHubToken } from '../../../src/engine/hub/hub-token';

let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'hub-token-'));
  await mkdir(join(root, 'hf-home'), { recursive: true });
  await writeFile(join(root, 'hf-home', 'token'), 'hf_fromHfHome\n');
  await mkdir(join(root, 'home', '.cache', 'huggingface'), { recursive: true });
  await writeFile(join(root, 'home', '.cache', 'huggingface', 'token'), 'hf_fromXdgDefault');
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('the argument wins, then HF_TOKEN, then the token file', async () => {
  const env = { HF_TOKEN: 'hf_fromEnv', HF_HOME: join(root, 'hf-home') };
  assert.deepEqual(await resolveHubToken('hf_fromArgument', env), { token: 'hf_fromArgument', source: 'argument' });
  assert.deepEqual(await resolveHubToken(undefined, env), { token: 'hf_fromEnv', source: 'HF_TOKEN' });
  assert.deepEqual(await resolveHubToken('', { ...env, HF_TOKEN: '  ' }), {
    token: 'hf_fromHfHome', source: 'token-file', file: join(root, 'hf-home', 'token'),
  });
});

test('without HF_HOME the token file is under the cache home', async () => {
  const env = { XDG_CACHE_HOME: join(root, 'home', '.cache') };
  assert.equal(hubTokenFile(env), join(root, 'home', '.cache', 'huggingface', 'token'));
  assert.equal((await resolveHubToken(undefined, env))?.token, 'hf_fromXdgDefault');
  assert.equal(await resolveHubToken(undefined, { HF_HOME: join(root, 'empty') }), undefined);
});

test('redaction removes every occurrence of the token', () => {
  const text = redactSecret('Bearer hf_secret123 failed; again hf_secret123.', 'hf_secret123');
  assert.ok(!text.includes('hf_secret123'));
  assert.equal(text, 'Bearer hf_*** failed; again hf_***.');
  assert.equal(redactSecret('unchanged', undefined), 'unchanged');
});
