import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isSurgeonError } from '../../../src/engine/errors';
import {
  addedTokenNames,
  diffTokenizers,
  loadTokenizerFiles,
  summarizeTokenizer,
  type TokenizerFiles,
} from '../../../src/engine/report/tokenizer-diff';

const REAL = join(__dirname, '../../fixtures/real');
const MISTRAL_BASE = join(REAL, 'mistral-7b-v0.1-base-vs-instruct/Mistral-7B-v0.1');
const MISTRAL_INSTRUCT = join(REAL, 'mistral-7b-v0.1-base-vs-instruct/Mistral-7B-Instruct-v0.1');
const LLAMA_LATEST = join(REAL, 'llama-3-family-instruct-only/Llama-3.2-3B-Instruct');
const LLAMA_INITIAL = join(REAL, 'llama-3-family-instruct-only/Llama-3.2-3B-Instruct-initial-upload');

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

function linesOf(text: string): string[] {
  return (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
}

describe('diffTokenizers on the real Mistral-7B-v0.1 base and Instruct-v0.1 files', () => {
  let base: TokenizerFiles;
  let instruct: TokenizerFiles;
  before(async () => {
    [base, instruct] = await Promise.all([loadTokenizerFiles(MISTRAL_BASE), loadTokenizerFiles(MISTRAL_INSTRUCT)]);
  });

  it('reports the chat template the instruct model added, line by line', async () => {
    const report = diffTokenizers(base, instruct);
    const template = (await readJson(join(MISTRAL_INSTRUCT, 'tokenizer_config.json')))['chat_template'];
    assert.equal(typeof template, 'string');
    assert.deepEqual(
      { a: report.chatTemplate.a, b: report.chatTemplate.b, changed: report.chatTemplate.changed },
      { a: false, b: true, changed: true },
    );
    assert.ok(report.chatTemplate.diff.every((entry) => entry.op === 'added'));
    assert.deepEqual(report.chatTemplate.diff.map((entry) => entry.text), linesOf(template as string));
  });

  it('reports the legacy flag flip and nothing for unchanged flags', () => {
    const report = diffTokenizers(base, instruct);
    const legacy = report.changes.find((change) => change.key === 'tokenizer_config.legacy');
    assert.deepEqual(legacy, { key: 'tokenizer_config.legacy', a: true, b: false });
    assert.equal(report.changes.some((change) => change.key === 'tokenizer_config.add_bos_token'), false);
  });

  it('reports the special-token map turning strings into AddedToken objects with the same content', () => {
    const report = diffTokenizers(base, instruct);
    const fromMap = report.specialTokens.filter((entry) => entry.key.startsWith('special_tokens_map.'));
    assert.deepEqual(fromMap.map((entry) => entry.key).sort(), [
      'special_tokens_map.bos_token', 'special_tokens_map.eos_token', 'special_tokens_map.unk_token',
    ]);
    for (const entry of fromMap) {
      assert.equal(typeof entry.a, 'string');
      assert.equal((entry.b as { content: string }).content, entry.a);
    }
    // config, generation_config and the tokenizer_config token strings are identical in the two repos.
    assert.equal(report.specialTokens.some((entry) => !entry.key.startsWith('special_tokens_map.')), false);
  });

  it('reports the normalizer replaced by a Metaspace pre-tokenizer, and equal vocabularies', async () => {
    const report = diffTokenizers(base, instruct);
    const normalizer = report.changes.find((change) => change.key === 'normalizer');
    const preTokenizer = report.changes.find((change) => change.key === 'pre_tokenizer');
    assert.equal((normalizer?.a as { type: string }).type, 'Sequence');
    assert.equal(normalizer?.b, null);
    assert.equal((preTokenizer?.b as { type: string }).type, 'Metaspace');
    const raw = await readJson(join(MISTRAL_BASE, 'tokenizer.json'));
    const model = raw['model'] as { vocab: Record<string, number>; merges: unknown[] };
    assert.deepEqual(report.vocabSize, { a: Object.keys(model.vocab).length, b: Object.keys(model.vocab).length });
    assert.deepEqual(report.merges, { a: model.merges.length, b: model.merges.length });
    assert.deepEqual(report.addedTokens, { onlyInA: [], onlyInB: [], changed: [] });
    assert.equal(report.changes.some((change) => change.key === 'model.type'), false);
  });

  it('names vocabulary rows from the model vocabulary', () => {
    assert.deepEqual(addedTokenNames(instruct, 0, 3), [
      { id: 0, content: '<unk>' }, { id: 1, content: '<s>' }, { id: 2, content: '</s>' },
    ]);
    const tail = addedTokenNames(instruct, 31998, 32010);
    assert.deepEqual(tail.map((token) => token.id), [31998, 31999]);
  });
});

describe('diffTokenizers on two real Llama-3.2-3B-Instruct revisions (no tokenizer.json)', () => {
  it('diffs the rewritten chat template so that both sides can be rebuilt from it', async () => {
    const [initial, latest] = await Promise.all([loadTokenizerFiles(LLAMA_INITIAL), loadTokenizerFiles(LLAMA_LATEST)]);
    assert.equal(initial.tokenizer, null);
    const report = diffTokenizers(initial, latest);
    assert.equal(report.chatTemplate.changed, true);
    const templateA = (await readJson(join(LLAMA_INITIAL, 'tokenizer_config.json')))['chat_template'] as string;
    const templateB = (await readJson(join(LLAMA_LATEST, 'tokenizer_config.json')))['chat_template'] as string;
    const sideA = report.chatTemplate.diff.filter((entry) => entry.op !== 'added').map((entry) => entry.text);
    const sideB = report.chatTemplate.diff.filter((entry) => entry.op !== 'removed').map((entry) => entry.text);
    assert.deepEqual(sideA, linesOf(templateA));
    assert.deepEqual(sideB, linesOf(templateB));
    assert.ok(report.chatTemplate.diff.some((entry) => entry.op === 'same'));
    assert.deepEqual(report.vocabSize, { a: null, b: null });
    assert.deepEqual(report.merges, { a: null, b: null });
    assert.deepEqual(report.addedTokens, { onlyInA: [], onlyInB: [], changed: [] });
  });

  it('names the 256 reserved and special rows from added_tokens_decoder', async () => {
    const latest = await loadTokenizerFiles(LLAMA_LATEST);
    const decoder = (await readJson(join(LLAMA_LATEST, 'tokenizer_config.json')))['added_tokens_decoder'] as Record<string, { content: string }>;
    const names = addedTokenNames(latest, 128000, 128256);
    assert.equal(names.length, Object.keys(decoder).length);
    assert.deepEqual(names[0], { id: 128000, content: '<|begin_of_text|>' });
    assert.equal(names.find((token) => token.id === 128009)?.content, '<|eot_id|>');
    assert.deepEqual(summarizeTokenizer(latest), { vocabSize: null, addedTokens: 256, hasChatTemplate: true });
  });
});

describe('diffTokenizers on generated folders', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tokenizer-diff-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function folder(name: string, files: Record<string, string>): Promise<string> {
    const dir = join(root, name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
    return dir;
  }

  const vocab = { '<unk>': 0, '<s>': 1, '</s>': 2, a: 3, b: 4 };
  const tokenizerJson = (added: Array<{ id: number; content: string; special: boolean }>): string =>
    JSON.stringify({ added_tokens: added, normalizer: null, model: { type: 'BPE', vocab, merges: ['a b'] } });

  it('finds added tokens only in B and changed ones, and normalizes eos ids to lists', async () => {
    const a = await folder('a', {
      'tokenizer.json': tokenizerJson([{ id: 2, content: '</s>', special: true }, { id: 5, content: '<pad>', special: false }]),
      'generation_config.json': JSON.stringify({ eos_token_id: 2 }),
    });
    const b = await folder('b', {
      'tokenizer.json': tokenizerJson([
        { id: 2, content: '</s>', special: true },
        { id: 5, content: '<pad>', special: true },
        { id: 6, content: '<|im_end|>', special: true },
      ]),
      'generation_config.json': JSON.stringify({ eos_token_id: [2, 6] }),
    });
    const report = diffTokenizers(await loadTokenizerFiles(a), await loadTokenizerFiles(b));
    assert.deepEqual(report.vocabSize, { a: 6, b: 7 });
    assert.deepEqual(report.addedTokens.onlyInB, [{ id: 6, content: '<|im_end|>', special: true }]);
    assert.deepEqual(report.addedTokens.onlyInA, []);
    assert.deepEqual(report.addedTokens.changed, [
      { id: 5, a: { id: 5, content: '<pad>', special: false }, b: { id: 5, content: '<pad>', special: true } },
    ]);
    assert.deepEqual(report.specialTokens, [{ key: 'generation_config.eos_token_id', a: [2], b: [2, 6] }]);
    assert.deepEqual(addedTokenNames(await loadTokenizerFiles(b), 5, 7), [
      { id: 5, content: '<pad>' }, { id: 6, content: '<|im_end|>' },
    ]);
  });

  it('prefers chat_template.jinja over the tokenizer_config key', async () => {
    const a = await folder('jinja-a', { 'tokenizer_config.json': JSON.stringify({ chat_template: 'one\ntwo\n' }) });
    const b = await folder('jinja-b', {
      'tokenizer_config.json': JSON.stringify({ chat_template: 'one\ntwo\n' }),
      'chat_template.jinja': 'one\nthree\n',
    });
    const report = diffTokenizers(await loadTokenizerFiles(a), await loadTokenizerFiles(b));
    assert.deepEqual(report.chatTemplate.diff, [
      { op: 'same', text: 'one' }, { op: 'removed', text: 'two' }, { op: 'added', text: 'three' },
    ]);
  });

  it('tolerates absent files and reports nothing for two empty folders', async () => {
    const a = await folder('empty-a', {});
    const b = await folder('empty-b', {});
    const report = diffTokenizers(await loadTokenizerFiles(a), await loadTokenizerFiles(b));
    assert.deepEqual(report, {
      vocabSize: { a: null, b: null },
      addedTokens: { onlyInA: [], onlyInB: [], changed: [] },
      specialTokens: [],
      chatTemplate: { a: false, b: false, changed: false, diff: [] },
      changes: [],
      merges: { a: null, b: null },
    });
  });

  it('refuses a Git LFS pointer, malformed JSON, duplicate keys and a missing folder', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ 'tokenizer.json': 'version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 1795303\n' }, 'lfs-pointer'],
      [{ 'tokenizer_config.json': '{"legacy": true,' }, 'invalid-json'],
      [{ 'special_tokens_map.json': '["<s>"]' }, 'invalid-json'],
      [{ 'generation_config.json': '{"eos_token_id": 2, "eos_token_id": 3}' }, 'duplicate-key'],
    ];
    for (const [index, [files, rule]] of cases.entries()) {
      const dir = await folder(`bad-${index}`, files);
      const file = Object.keys(files)[0] ?? '';
      await assert.rejects(loadTokenizerFiles(dir), (error: unknown) =>
        isSurgeonError(error) && error.rule === rule && error.file === join(dir, file));
    }
    await assert.rejects(loadTokenizerFiles(join(root, 'no-such-folder')), (error: unknown) =>
      isSurgeonError(error) && error.rule === 'io');
  });
});
