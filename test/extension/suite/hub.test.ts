/**
 * The Checkpoints view over the workspace and a Hugging Face cache built like huggingface_hub
 * lays it out, and Push to Hub against the fake Hub server. The extension host is this process,
 * so HF_HUB_CACHE and HF_ENDPOINT set here are what the extension reads.
 */
import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { PushResult } from '../../../src/shared/jobs';
import type { CheckpointTreeEntry } from '../../../src/extension/checkpoints-tree';
import { FakeHub } from '../../helpers/fake-hub-server';
import { makeHfCache } from '../../helpers/make-hf-cache';
import { commandFailure, extensionApi, makeCheckpoint, type GeneratedCheckpoint } from '../workspace-checkpoints';

const MAIN_COMMIT = 'a'.repeat(8) + '0123456789abcdef0123456789abcdef';
const OLD_COMMIT = 'b'.repeat(8) + '0123456789abcdef0123456789abcdef';

function filesOf(checkpoint: GeneratedCheckpoint): Record<string, Uint8Array> {
  return Object.fromEntries(readdirSync(checkpoint.dir).map((name) => [name, readFileSync(join(checkpoint.dir, name))]));
}

async function tree(): Promise<CheckpointTreeEntry[]> {
  const api = (await extensionApi()) as unknown as { checkpointTree(): Promise<CheckpointTreeEntry[]> };
  return api.checkpointTree();
}

suite('Hugging Face cache and Hub', () => {
  let cacheDir: string;
  let bf16: GeneratedCheckpoint;
  let f32: GeneratedCheckpoint;
  const savedCache = process.env['HF_HUB_CACHE'];

  suiteSetup(async () => {
    await extensionApi();
    bf16 = await makeCheckpoint({ name: 'hub-bf16', layers: 2, hidden: 32, vocab: 64, dtype: 'BF16', seed: 11 });
    f32 = await makeCheckpoint({ name: 'hub-f32', layers: 1, hidden: 16, vocab: 48, dtype: 'F32', seed: 12 });
    // Outside the workspace, so the finder does not list the snapshots as workspace folders too.
    cacheDir = await mkdtemp(join(tmpdir(), 'surgeon-hf-cache-'));
    await makeHfCache(cacheDir, [{
      repo: 'acme/tiny-llama',
      revisions: [
        { commit: MAIN_COMMIT, refs: ['main'], files: filesOf(bf16) },
        { commit: OLD_COMMIT, files: filesOf(f32) },
      ],
    }]);
    process.env['HF_HUB_CACHE'] = cacheDir;
  });

  suiteTeardown(async () => {
    if (savedCache === undefined) delete process.env['HF_HUB_CACHE'];
    else process.env['HF_HUB_CACHE'] = savedCache;
    await rm(cacheDir, { recursive: true, force: true });
  });

  test('the Checkpoints view lists workspace folders and cached revisions with their header facts', async () => {
    const roots = await tree();
    assert.deepEqual(roots.map((root) => root.label), ['Workspace', 'Hugging Face cache']);
    const [workspace, cache] = roots;
    assert.ok(workspace?.children?.some((child) => child.path === bf16.dir && child.label === 'hub-bf16'));

    const cached = cache?.children ?? [];
    assert.deepEqual(cached.map((child) => child.label).sort(), ['acme/tiny-llama@bbbbbbb', 'acme/tiny-llama@main']);
    const main = cached.find((child) => child.label === 'acme/tiny-llama@main');
    const old = cached.find((child) => child.label === 'acme/tiny-llama@bbbbbbb');
    assert.equal(main?.path, join(cacheDir, 'models--acme--tiny-llama', 'snapshots', MAIN_COMMIT));
    assert.match(main?.description ?? '', /LlamaForCausalLM/);
    assert.match(main?.description ?? '', /BF16/);
    assert.match(main?.tooltip ?? '', new RegExp(`Parameters: ${bf16.parameters.toLocaleString('en-US')}\\b`));
    assert.match(main?.tooltip ?? '', new RegExp(`Commit: \`${MAIN_COMMIT}\``));
    assert.match(old?.description ?? '', /F32/);
    assert.match(old?.tooltip ?? '', new RegExp(`Parameters: ${f32.parameters.toLocaleString('en-US')}\\b`));
  });

  test('the view context commands pass the item path to inspect', async () => {
    const workspace = (await tree())[0];
    const item = workspace?.children?.find((child) => child.path === bf16.dir);
    assert.ok(item?.path);
    const result = await vscode.commands.executeCommand<{ parameters: number }>(
      'checkpointSurgeon.checkpoints.inspect', { kind: 'checkpoint', source: 'workspace', path: item.path, label: item.label, location: '' },
    );
    assert.equal(result.parameters, bf16.parameters);
  });

  test('pushToHub uploads the folder with the token from secret storage to HF_ENDPOINT', async () => {
    const hub = await FakeHub.start({ token: 'hf_extensionPushToken', user: 'tester' });
    const savedEndpoint = process.env['HF_ENDPOINT'];
    const savedToken = process.env['HF_TOKEN'];
    try {
      process.env['HF_ENDPOINT'] = hub.url;
      delete process.env['HF_TOKEN'];
      writeFileSync(join(bf16.dir, 'README.md'), '# hub-bf16\n');
      assert.equal(await vscode.commands.executeCommand('checkpointSurgeon.setHubToken', { token: hub.token }), true);
      const result = await vscode.commands.executeCommand<PushResult>('checkpointSurgeon.pushToHub', { dir: bf16.dir, repo: 'pushed-model' });
      assert.equal(result.kind, 'push');
      assert.equal(result.repo, 'tester/pushed-model');
      assert.equal(result.created, true);
      assert.equal(hub.repos.get('tester/pushed-model')?.private, true);
      const uploaded = hub.headFiles('tester/pushed-model');
      const local = readdirSync(bf16.dir).sort();
      for (const name of local) assert.ok(uploaded.has(name), `${name} was not uploaded`);
      for (const name of local) assert.ok(uploaded.get(name)?.equals(readFileSync(join(bf16.dir, name))), `${name} differs on the Hub`);
      assert.equal(result.commit, hub.headCommit('tester/pushed-model'));

      // A wrong stored token is refused by the Hub, and the message does not carry it.
      await vscode.commands.executeCommand('checkpointSurgeon.setHubToken', { token: 'hf_wrongSecretValue' });
      const denied = await commandFailure('checkpointSurgeon.pushToHub', { dir: bf16.dir, repo: 'tester/denied' });
      assert.equal(denied.command, 'Push to Hub');
      assert.ok(denied.message !== '' && !denied.message.includes('hf_wrongSecretValue'), denied.message);
      assert.equal(hub.repos.has('tester/denied'), false);
    } finally {
      await vscode.commands.executeCommand('checkpointSurgeon.setHubToken', { token: '' });
      if (savedEndpoint === undefined) delete process.env['HF_ENDPOINT'];
      else process.env['HF_ENDPOINT'] = savedEndpoint;
      if (savedToken !== undefined) process.env['HF_TOKEN'] = savedToken;
      await hub.close();
    }
  });
});
