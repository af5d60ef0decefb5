import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import type { ComputeResult } from '../../../src/shared/jobs';
import { REPORT_SCHEMA } from '../../../src/shared/report';
import {
  appliedCardInput,
  escapeMarkdown,
  modelCardFrontMatter,
  renderModelCard,
  residualCardInput,
  type ModelCardInput,
} from '../../../src/engine/report/model-card';
import { TOOL_NAME, TOOL_VERSION } from '../../../src/engine/version';

/** Splits a README the way the Hub does: the front matter is between the first two lines reading `---`. */
function splitCard(text: string): { front: unknown; body: string } {
  const lines = text.split('\n');
  assert.equal(lines[0], '---');
  const end = lines.indexOf('---', 1);
  assert.ok(end > 0, 'front matter is not closed');
  return { front: parse(lines.slice(1, end).join('\n')), body: lines.slice(end + 1).join('\n') };
}

function residualInput(overrides: Partial<ModelCardInput> = {}): ModelCardInput {
  return {
    kind: 'residual',
    title: 'Mistral-7B-Instruct-v0.1 residual',
    output: { path: '/data/residuals/mistral', hubId: 'me/mistral-7b-instruct-residual' },
    base: { path: '/hf/base', hubId: 'mistralai/Mistral-7B-v0.1' },
    instruct: { path: '/hf/instruct', hubId: 'mistralai/Mistral-7B-Instruct-v0.1' },
    scale: 1,
    dtype: 'BF16',
    createdAt: new Date(Date.UTC(2025, 5, 1)),
    license: 'apache-2.0',
    provenance: { base: [{ file: 'model-00001-of-00002.safetensors', bytes: 9942981696, sha256: 'ab'.repeat(32) }] },
    summary: {
      counts: { changed: 290, unchanged: 1, 'shape-mismatch': 0, 'dtype-mismatch': 0, 'only-in-a': 0, 'only-in-b': 0 },
      parametersChanged: 7_000_000_000,
      parametersCompared: 7_241_732_096,
      globalRelativeNorm: 0.0123,
      mostChanged: [{ name: 'model.layers.31.mlp.down_proj.weight', relativeNorm: 0.05 }],
    },
    ...overrides,
  };
}

describe('renderModelCard', () => {
  it('writes front matter that parses back to what was meant (residual)', () => {
    const card = renderModelCard(residualInput());
    assert.deepEqual(splitCard(card).front, {
      base_model: 'mistralai/Mistral-7B-v0.1',
      base_model_relation: 'adapter',
      library_name: TOOL_NAME,
      license: 'apache-2.0',
      tags: ['instruction-residual', 'task-arithmetic'],
    });
  });

  it('writes merge front matter for an applied model, with the scale in the formula and the commands', () => {
    const card = renderModelCard(residualInput({
      kind: 'applied',
      base: { path: '/ckpt/my-cpt' },
      instruct: undefined,
      residual: { path: '/r', hubId: 'me/residual' },
      scale: 0.75,
      license: undefined,
    }));
    const { front, body } = splitCard(card);
    assert.deepEqual(front, {
      // A local base is named by its path from the card's folder (/data/residuals/mistral), never an absolute one.
      base_model: '../../../ckpt/my-cpt', base_model_relation: 'merge', library_name: TOOL_NAME,
      tags: ['instruction-residual', 'task-arithmetic'],
    });
    assert.match(body, /θ_new = θ_cpt \+ α · R {4}with α = 0\.75/);
    assert.match(body, /--residual 'me\/residual'/);
    assert.match(body, /residual\.apply\(model, out_dir="\.\/merged", scale=0\.75\)/);
  });

  it('shows usage for the CLI, VS Code and the Python residuals package, provenance and statistics', () => {
    const { body } = splitCard(renderModelCard(residualInput()));
    assert.match(body, /checkpoint-surgeon apply --base '[^']+' --residual 'me\/mistral-7b-instruct-residual'/);
    assert.match(body, /Checkpoint Surgeon: Apply Residual/);
    assert.match(body, /Residuals\.from_pretrained\("me\/mistral-7b-instruct-residual"\)/);
    assert.match(body, new RegExp(`${TOOL_NAME} ${TOOL_VERSION.replace(/\./g, '\\.')}`));
    assert.match(body, /\| base \| model-00001-of-00002\.safetensors \| 9,942,981,696 \| (ab){32} \|/);
    assert.match(body, /model\.layers\.31\.mlp\.down\\_proj\.weight \| 0\.05 \|/);
    assert.match(body, /Global relative norm ‖R‖ \/ ‖θ_base‖: 0\.0123/);
    assert.match(body, /## Known limits/);
  });

  it('cannot be made to inject front-matter keys through a model name', () => {
    const hostile = 'name\nbase_model: injected\n---\nlicense: mit';
    const card = renderModelCard(residualInput({
      base: { path: '/hf/base', hubId: hostile },
      license: 'other\nlibrary_name: x',
      title: hostile,
    }));
    const { front, body } = splitCard(card);
    assert.deepEqual(front, {
      base_model: hostile,
      base_model_relation: 'adapter',
      library_name: TOOL_NAME,
      license: 'other\nlibrary_name: x',
      tags: ['instruction-residual', 'task-arithmetic'],
    });
    // The only lines reading --- are the two delimiters.
    assert.equal(card.split('\n').filter((line) => line === '---').length, 2);
    assert.equal(body.split('\n').some((line) => line.startsWith('base_model:')), false);
  });

  it('escapes Markdown, HTML and table separators in names from files', () => {
    const tensor = 'x|y`<img src=x onerror=alert(1)>\n## heading [link](javascript:alert(1))';
    const card = renderModelCard(residualInput({
      summary: {
        counts: { changed: 1, unchanged: 0, 'shape-mismatch': 0, 'dtype-mismatch': 0, 'only-in-a': 0, 'only-in-b': 0 },
        parametersChanged: 1, parametersCompared: 1, globalRelativeNorm: 0.5,
        mostChanged: [{ name: tensor, relativeNorm: 0.5 }],
      },
      vocabularyGrowth: [{ tensor: 'model.embed_tokens.weight', fromRows: 32000, toRows: 32002, addedTokens: [{ id: 32000, content: '<|im_start|>' }, { id: 32001, content: '</script>' }] }],
    }));
    assert.equal(card.includes('<img'), false);
    assert.equal(card.includes('</script>'), false);
    assert.equal(card.includes('<|im_start|>'), false);
    assert.match(card, /&lt;\\\|im\\_start\\\|&gt;/);
    const row = card.split('\n').find((line) => line.includes('onerror'));
    assert.ok(row);
    // Every | inside the name is escaped, so the row still has exactly three cell borders.
    assert.equal(row.replace(/\\\|/g, '').split('|').length - 1, 3);
    assert.equal(card.split('\n').some((line) => line.startsWith('## heading')), false);
    assert.equal(escapeMarkdown('a\r\nb'), 'a b');
  });

  it('says that a residual of FP8 models is the difference of their dequantized weights, and nothing of the kind otherwise', () => {
    const block = { method: 'fp8', layout: 'block', blockSize: [128, 128] as [number, number], tensors: 9, quantizedTensors: ['a.weight'] };
    const both = renderModelCard(residualInput({ quantization: { a: block, b: block } }));
    assert.match(both, /The base and the instruct model are FP8 \(fp8, block scales 128 x 128\): R is the difference of the dequantized weights, /);
    assert.equal(both.match(/dequantized/g)?.length, 1);
    const channel = { method: 'fbgemm_fp8', layout: 'per-channel', tensors: 9, quantizedTensors: ['a.weight'] };
    assert.match(renderModelCard(residualInput({ quantization: { b: channel } })),
      /The instruct model is FP8 \(fbgemm\\_fp8, per-channel scales\): R is the difference of the dequantized weights/);
    assert.match(renderModelCard(residualInput({ quantization: { a: block, b: channel } })),
      /The base \(fp8, block scales 128 x 128\) and the instruct model \(fbgemm\\_fp8, per-channel scales\) are FP8: R is/);
    assert.doesNotMatch(renderModelCard(residualInput()), /FP8|dequantized/);
  });

  it('keeps hostile names inside the code blocks and string literals', () => {
    const hostile = "evil'```\n$(rm -rf /)\"";
    // The residual of an applied model's card, named by a hostile Hub id (a residual's own card names itself `.`).
    const card = renderModelCard(residualInput({ kind: 'applied', instruct: undefined, residual: { path: '/r', hubId: hostile } }));
    const pythonLine = card.split('\n').find((line) => line.startsWith('residual = Residuals.from_pretrained('));
    assert.equal(pythonLine, `residual = Residuals.from_pretrained(${JSON.stringify(hostile)})`);
    // The fence is longer than the run of three backticks in the name, so the block does not end early.
    assert.match(card, /^````sh$/m);
    assert.ok(card.includes(`--residual 'evil'\\''\`\`\`\n$(rm -rf /)"'`));
  });
});

describe('card inputs from job results', () => {
  it('fills a residual card from a ComputeResult', async () => {
    const tokenizerReport = {
      vocabSize: { a: 32000, b: 32002 },
      addedTokens: { onlyInA: [], onlyInB: [{ id: 32000, content: '<|im_start|>', special: true }], changed: [] },
      specialTokens: [{ key: 'tokenizer_config.eos_token', a: '</s>', b: '<|im_end|>' }],
      chatTemplate: { a: false, b: true, changed: true, diff: [] },
      changes: [{ key: 'tokenizer_config.legacy', a: true, b: false }],
      merges: { a: 58980, b: 58980 },
    };
    const result: ComputeResult = {
      kind: 'compute', out: '/out/my-residual', dtype: 'BF16', tensors: 291, parameters: 7_241_732_096, files: [], issues: [],
      dtypeReason: '--dtype same as asked: not exact, base + residual rounds twice',
      vocabularyGrowth: [], provenance: { base: [], instruct: [{ file: 'model.safetensors', bytes: 10, sha256: 'cd'.repeat(32) }] },
      report: {
        schema: REPORT_SCHEMA, a: { path: '/a', hubId: 'org/base' }, b: { path: '/b' }, tensors: [], layers: [],
        tokenizer: tokenizerReport, config: null,
        summary: {
          counts: { changed: 0, unchanged: 0, 'shape-mismatch': 0, 'dtype-mismatch': 0, 'only-in-a': 0, 'only-in-b': 0 },
          parametersChanged: 0, parametersCompared: 0, globalRelativeNorm: null, mostChanged: [],
        },
      },
      seconds: 1,
    };
    const input = residualCardInput(result, { createdAt: new Date(0) });
    assert.equal(input.title, 'my-residual');
    assert.deepEqual(modelCardFrontMatter(input).base_model, 'org/base');
    const { body } = splitCard(renderModelCard(input));
    assert.match(body, /vocabulary size 32000 → 32002/);
    assert.match(body, /chat template added/);
    assert.match(body, /tokenizer\\_config\.legacy/);
    assert.match(body, /\| instruct \| model\.safetensors \| 10 \| (cd){32} \|/);
    const applied = appliedCardInput(
      { kind: 'apply', out: '/o/merged', scale: 0.5, tensors: 1, applied: [], copiedUnchanged: [], skipped: [], files: [], issues: [], vocabularyGrowth: [], seconds: 1 },
      { base: { path: '/cpt' }, residual: { path: '/out/my-residual' }, dtype: 'BF16', report: result.report },
    );
    assert.deepEqual([applied.kind, applied.scale, modelCardFrontMatter(applied).base_model_relation], ['applied', 0.5, 'merge']);
  });
});

describe('version', () => {
  it('matches package.json', async () => {
    const pkg = JSON.parse(await readFile(join(__dirname, '../../../package.json'), 'utf8')) as { name: string; version: string };
    assert.deepEqual([TOOL_NAME, TOOL_VERSION], [pkg.name, pkg.version]);
  });
});

it('the card counts every tensor the report counts: grown embeddings are named, not left out', () => {
  const counts = { changed: 37, unchanged: 0, 'shape-mismatch': 2, 'dtype-mismatch': 0, 'only-in-a': 0, 'only-in-b': 0 };
  const card = renderModelCard({
    kind: 'residual', title: 'r', output: { path: '/o/r' }, base: { path: '/b' }, instruct: { path: '/i' }, scale: 1, dtype: 'F32',
    createdAt: new Date(0), summary: { counts, parametersChanged: 10, parametersCompared: 10, globalRelativeNorm: 0.01, mostChanged: [] },
  });
  assert.match(card, /Tensors: 37 changed, 2 grown or shrunk \(vocabulary\); parameters compared: 10\./);
});
