/**
 * The model card names the checkpoints it was made from by their Hub id when they came from the Hugging
 * Face cache, else by their path from the card's own folder (with / separators): never by an absolute,
 * often temporary, path that means nothing once the folder is pushed or copied (issue 22).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { runApply, runCompute } from '../../../src/engine/jobs';
import { cardPath, modelCardFrontMatter, renderModelCard, type ModelCardInput } from '../../../src/engine/report/model-card';
import { llamaLikeTensors, writeCheckpoint } from '../../helpers/make-checkpoint';
import { makeHfCache } from '../../helpers/make-hf-cache';

function frontMatter(card: string): Record<string, unknown> {
  const match = /^---\n([\s\S]*?)---\n/.exec(card);
  assert.ok(match);
  return parse(match[1]!) as Record<string, unknown>;
}

function input(overrides: Partial<ModelCardInput>): ModelCardInput {
  return {
    kind: 'residual', title: 'r', output: { path: '/work/out/residual' }, base: { path: '/work/models/base' },
    instruct: { path: '/work/models/instruct' }, scale: 1, dtype: 'BF16', createdAt: new Date(0), ...overrides,
  };
}

describe('card paths', () => {
  it('a local base is a posix path relative to the card\'s folder; a residual names itself "."', () => {
    const card = renderModelCard(input({}));
    assert.equal(frontMatter(card)['base_model'], '../../models/base');
    assert.equal(card.includes('/work/'), false, 'no absolute path anywhere in the card');
    assert.match(card, /--residual '\.'/);
    assert.match(card, /Residuals\.from_pretrained\("\."\)/);
    assert.match(card, /- base: \.\.\/\.\.\/models\/base/);
  });

  it('a base from the Hub is its repo id (without the revision), whatever its cache path', () => {
    const card = renderModelCard(input({ base: { path: '/home/me/.cache/huggingface/hub/models--org--base/snapshots/abc', hubId: 'org/base@v2' } }));
    assert.equal(frontMatter(card)['base_model'], 'org/base');
    assert.equal(card.includes('/home/me'), false);
    assert.match(card, /org\/base@v2/);
  });

  it('an applied model\'s card names its base and residual relative to it, or by Hub id', () => {
    const applied = input({ kind: 'applied', output: { path: '/w/merged' }, base: { path: '/w/cpt' }, instruct: undefined, residual: { path: '/w/residuals/r1' } });
    assert.equal(modelCardFrontMatter(applied).base_model, '../cpt');
    const card = renderModelCard(applied);
    assert.match(card, /apply --base '\.\.\/cpt' --residual '\.\.\/residuals\/r1'/);
    assert.equal(card.includes("'/w/"), false);
    const fromHub = renderModelCard({ ...applied, residual: { path: '/cache/x', hubId: 'me/residual' } });
    assert.match(fromHub, /--residual 'me\/residual'/);
  });

  it('cardPath: the card\'s own folder is ".", a sibling "../name"', () => {
    assert.equal(cardPath({ path: '/a/b' }, { path: '/a/b' }), '.');
    assert.equal(cardPath({ path: '/a/c' }, { path: '/a/b' }), '../c');
    assert.equal(cardPath({ path: '/a/b/c' }, { path: '/a/b' }), 'c');
  });
});

describe('cards written by compute and apply', () => {
  let root: string;
  const previousCache = process.env['HF_HUB_CACHE'];
  const config = { model_type: 'llama', hidden_size: 16, num_hidden_layers: 2, vocab_size: 32, tie_word_embeddings: false };
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-card-paths-'));
    await writeCheckpoint(join(root, 'base'), llamaLikeTensors({ layers: 2, hidden: 16, vocab: 32, dtype: 'BF16', tied: false, seed: 1 }), { config });
    await writeCheckpoint(join(root, 'instruct'), llamaLikeTensors({ layers: 2, hidden: 16, vocab: 32, dtype: 'BF16', tied: false, seed: 2 }), { config });
    const filesOf = async (dir: string): Promise<Record<string, Uint8Array>> =>
      Object.fromEntries(await Promise.all((await readdir(dir)).map(async (name) => [name, await readFile(join(dir, name))] as const)));
    await makeHfCache(join(root, 'cache'), [
      { repo: 'acme/tiny-base', revisions: [{ commit: 'a'.repeat(40), refs: ['main'], files: await filesOf(join(root, 'base')) }] },
    ]);
    process.env['HF_HUB_CACHE'] = join(root, 'cache');
  });
  after(async () => {
    if (previousCache === undefined) delete process.env['HF_HUB_CACHE'];
    else process.env['HF_HUB_CACHE'] = previousCache;
    await rm(root, { recursive: true, force: true });
  });

  it('compute from local folders: base_model is "../base", and the report keeps absolute paths', async () => {
    const out = join(root, 'out', 'residual');
    const result = await runCompute({ base: join(root, 'base'), instruct: join(root, 'instruct'), out });
    assert.equal(result.report.a.path, join(root, 'base'));
    const card = await readFile(join(out, 'README.md'), 'utf8');
    assert.equal(frontMatter(card)['base_model'], '../../base');
    assert.equal(card.includes(root), false, 'no absolute temporary path in the card');

    const merged = join(root, 'merged');
    await runApply({ base: join(root, 'base'), residual: out, out: merged });
    const appliedCard = await readFile(join(merged, 'README.md'), 'utf8');
    assert.equal(frontMatter(appliedCard)['base_model'], '../base');
    assert.match(appliedCard, /--residual '\.\.\/out\/residual'/);
    assert.equal(appliedCard.includes(root), false);
  });

  it('compute from the Hugging Face cache: the report records the Hub id and the card names it', async () => {
    const out = join(root, 'from-hub');
    const result = await runCompute({ base: 'acme/tiny-base', instruct: join(root, 'instruct'), out });
    assert.equal(result.report.a.hubId, 'acme/tiny-base');
    assert.ok(result.report.a.path.includes(join('cache', 'models--acme--tiny-base')), result.report.a.path);
    const card = await readFile(join(out, 'README.md'), 'utf8');
    assert.equal(frontMatter(card)['base_model'], 'acme/tiny-base');
    assert.equal(card.includes(root), false);
  });
});
