/** The CLI's words: headed tables, counts that agree with their nouns, tokenizer and config changes spelled out. */
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { describeResult } from '../../../src/cli/describe-result';
import { diffConfigs } from '../../../src/engine/report/config-diff';
import { diffTokenizers, loadTokenizerFiles } from '../../../src/engine/report/tokenizer-diff';
import { readJsonObjectFile } from '../../../src/engine/checkpoint/side-files';
import type { DiffResult, InspectResult, InspectTensor, VerifyResult } from '../../../src/shared/jobs';
import { emptyStatusCounts, REPORT_SCHEMA, type DiffReport, type TensorReport } from '../../../src/shared/report';

const MISTRAL = resolve(__dirname, '../../fixtures/real/mistral-7b-v0.1-base-vs-instruct');

function inspectResult(tensors: InspectTensor[], overrides: Partial<InspectResult> = {}): InspectResult {
  return {
    kind: 'inspect', path: '/models/m', layout: 'single', tensors, parameters: tensors.reduce((sum, t) => sum + t.shape.reduce((p, d) => p * d, 1), 0),
    bytes: tensors.reduce((sum, t) => sum + t.bytes, 0), shards: [...new Set(tensors.map((t) => t.file))], dtypes: { BF16: 100 },
    architecture: 'LlamaForCausalLM', modelType: 'llama', metadata: {}, tokenizer: null, ...overrides,
  };
}

function diffResult(report: Partial<DiffReport>): DiffResult {
  return {
    kind: 'diff', seconds: 0.1,
    report: {
      schema: REPORT_SCHEMA, a: { path: '/a' }, b: { path: '/b' }, tensors: [], layers: [],
      summary: { counts: emptyStatusCounts(), parametersChanged: 0, parametersCompared: 0, globalRelativeNorm: null, mostChanged: [] },
      ...report,
    } as DiffReport,
  };
}

describe('inspect in words', () => {
  it('one tensor: singular nouns, the architecture and model type, a headed table', () => {
    const text = describeResult(inspectResult([{ name: 'w', dtype: 'F32', shape: [2, 3], file: 'model.safetensors', bytes: 24 }]));
    assert.match(text, /^\/models\/m: LlamaForCausalLM \(llama\), 1 tensor, 6 parameters, 24 B in 1 file\.$/m);
    assert.doesNotMatch(text, /1 tensors|file\(s\)/);
    assert.match(text, /^ {2}tensor +dtype +shape +shard$/m);
    assert.match(text, /^ {2}w +F32 +2 x 3 +model\.safetensors$/m);
  });

  it('a big model is folded by layer and expert, and --all lists every tensor', () => {
    const tensors: InspectTensor[] = [{ name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [32000, 64], file: 'model-00001-of-00002.safetensors', bytes: 1 }];
    for (let layer = 0; layer < 8; layer++) {
      const file = `model-0000${layer < 4 ? 1 : 2}-of-00002.safetensors`;
      tensors.push({ name: `model.layers.${layer}.self_attn.q_proj.weight`, dtype: 'BF16', shape: [64, 64], file, bytes: 1 });
      for (let expert = 0; expert < 8; expert++) {
        tensors.push({ name: `model.layers.${layer}.block_sparse_moe.experts.${expert}.w1.weight`, dtype: 'BF16', shape: [128, 64], file, bytes: 1 });
      }
    }
    const folded = describeResult(inspectResult(tensors));
    assert.match(folded, /^ {2}tensors +dtype/m);
    assert.match(folded, /^ {2}model\.layers\.\{0\.\.7\}\.self_attn\.q_proj\.weight +BF16 +64 x 64 +2 files$/m);
    assert.match(folded, /^ {2}model\.layers\.\{0\.\.7\}\.block_sparse_moe\.experts\.\{0\.\.7\}\.w1\.weight +BF16 +128 x 64 +2 files$/m);
    assert.match(folded, /73 tensors folded by layer and expert; --all lists every one/);
    assert.equal(folded.split('\n').filter((line) => line.includes('model.layers')).length, 2);
    const all = describeResult(inspectResult(tensors), { all: true });
    assert.equal(all.split('\n').filter((line) => line.includes('model.layers')).length, 72);
  });

  it('no vocabulary is "unknown", never null', () => {
    const text = describeResult(inspectResult([{ name: 'w', dtype: 'F32', shape: [1], file: 'model.safetensors', bytes: 4 }],
      { tokenizer: { vocabSize: null, addedTokens: 1, hasChatTemplate: false } }));
    assert.match(text, /tokenizer: vocabulary size unknown, 1 added token, no chat template/);
    assert.doesNotMatch(text, /null/);
  });
});

describe('diff in words', () => {
  it('the real Mistral-7B base and instruct tokenizers: chat template added, legacy flip, settings with both values', async () => {
    const base = join(MISTRAL, 'Mistral-7B-v0.1');
    const instruct = join(MISTRAL, 'Mistral-7B-Instruct-v0.1');
    const tokenizer = diffTokenizers(await loadTokenizerFiles(base), await loadTokenizerFiles(instruct));
    const config = diffConfigs(await readJsonObjectFile(join(base, 'config.json')), await readJsonObjectFile(join(instruct, 'config.json')));
    const text = describeResult(diffResult({ tokenizer, config }));
    assert.match(text, /^tokenizer: vocabulary 32,000 in both; chat template added$/m);
    assert.match(text, /^ {2}legacy flipped: (true|false|\(absent\)) -> (true|false|\(absent\)) \(how SentencePiece spaces/m);
    assert.match(text, /^ {2}tokenizer setting +A +B$/m);
    assert.match(text, /^config: compatible/m);
    assert.doesNotMatch(text, /null -> null|undefined/);
    for (const change of config.changed) assert.match(text, new RegExp(`^ {2}${change.key.replace(/\./g, '\\.')} +`, 'm'), change.key);
  });

  it('tokens that moved ids are told apart from tokens added', () => {
    const token = (id: number, content: string) => ({ id, content, special: true });
    const text = describeResult(diffResult({
      tokenizer: {
        vocabSize: { a: 10, b: 12 }, merges: { a: null, b: null }, specialTokens: [], changes: [],
        chatTemplate: { a: false, b: false, changed: false, diff: [] },
        addedTokens: { onlyInA: [token(3, '<pad>')], onlyInB: [token(10, '<pad>'), token(11, '<|im_start|>')], changed: [] },
      },
    }));
    assert.match(text, /^ {2}1 token added: "<\|im_start\|>" \(11\)$/m);
    assert.match(text, /^ {2}"<pad>" moved from id 3 to 10$/m);
    assert.match(text, /vocabulary 10 -> 12; no chat template/);
  });

  it('spectra: one headed row per matrix, largest delta first, --top rows by default', () => {
    const matrix = (index: number): TensorReport => ({
      name: `model.layers.${index}.mlp.down_proj.weight`, status: 'changed', layer: index, module: 'down',
      spectra: { singularValues: [1], frobeniusNorm: index, energyAtRank: { 8: 0.5, 16: 0.75, 64: 1, 256: null }, effectiveRank: 3.25, provider: 'js' },
    });
    const result = diffResult({ tensors: Array.from({ length: 30 }, (_, index) => matrix(index)), spectraProvider: 'Spectra on WebAssembly SIMD' });
    const text = describeResult(result, { top: 20 });
    assert.match(text, /^Spectra on WebAssembly SIMD: 30 matrices, largest delta first$/m);
    assert.match(text, /^ {2}effective rank +energy@8 +energy@16 +energy@64 +matrix$/m);
    assert.match(text, /^ {2} *3\.25 +50\.0% +75\.0% +100\.0% +model\.layers\.29\.mlp\.down_proj\.weight$/m);
    assert.match(text, /\.\.\. and 10 more \(--top 0 lists all\)/);
    assert.equal(describeResult(result, { top: 0 }).split('\n').filter((line) => line.includes('down_proj')).length, 30);
  });
});

describe('verify in words', () => {
  it('mismatching tensors come as a headed table, after the explanation', () => {
    const result: VerifyResult = {
      kind: 'verify', ok: false, elements: 10, identical: 8, signedZeroOnly: 0, maxAbsError: 0.5, seconds: 0.1,
      issues: [{ severity: 'warning', rule: 'inexact-residual', message: 'a residual too narrow' }],
      tensors: [{ name: 'w', elements: 10, identical: 8, signedZeroOnly: 0, maxAbsError: 0.5 }],
    };
    const lines = describeResult(result).split('\n');
    assert.match(lines[1]!, /warning: a residual too narrow/);
    assert.match(lines[2]!, /^ {2}identical +of +signed zero +max abs error +mismatching tensor$/);
    assert.match(lines[3]!, /^ {2} *8 +10 +0 +0\.5 +w$/);
  });
});
