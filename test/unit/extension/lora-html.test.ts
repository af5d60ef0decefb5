/** The LoRA adapter view: the summary, what was left out by reason, the issues, and the matrices worst first. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loraHtml, loraMatrixRows, rankWords } from '../../../src/extension/lora-html';
import { leftOutGroups } from '../../../src/shared/lora-text';
import type { LoraMatrix, LoraResult } from '../../../src/shared/jobs';

function matrix(module: string, rank: number, energy: number, relativeError: number): LoraMatrix {
  return {
    tensor: `${module}.weight`, module, kind: 'linear', shape: [4096, 11008], rank, energy, relativeError,
    singularValues: [], squaredNorm: 1,
  };
}

const result: LoraResult = {
  kind: 'lora', out: '/m/instruct-lora-r16', dtype: 'BF16', ranks: { energy: 0.95, maxRank: 128 },
  matrices: [
    matrix('model.layers.0.self_attn.q_proj', 3, 0.951, 0.0021),
    matrix('model.layers.1.mlp.down_proj', 128, 0.62, 0.61),
    matrix('model.layers.0.mlp.<up>_proj', 40, 0.97, 0.17),
  ],
  leftOut: [
    { tensor: 'model.norm.weight', reason: 'not-a-matrix', energyShare: 0.001 },
    { tensor: 'model.layers.0.input_layernorm.weight', reason: 'not-a-matrix', energyShare: 0.002 },
    { tensor: 'model.embed_tokens.weight', reason: 'embedding', energyShare: 0.05 },
    { tensor: 'model.layers.3.self_attn.k_proj.weight', reason: 'unchanged', energyShare: 0 },
  ],
  leftOutEnergyShare: 0.053, capturedEnergyShare: 0.81,
  adapterBytes: 12_500_000, fullResidualBytes: 250_000_000, backend: 'WebAssembly SIMD on the CPU',
  files: [], seconds: 1.5,
  issues: [
    { severity: 'info', rule: 'ranks-from-spectra', message: 'each rank is chosen from its matrix\'s spectrum: the sizes are upper bounds, at --max-rank 128' },
    { severity: 'info', rule: 'mixed-ranks', message: 'the ranks differ between modules (rank_pattern, alpha_pattern): ... for llama.cpp export with one --rank' },
    { severity: 'warning', rule: 'tokenizer-differs', message: 'the <tokenizers> differ; a residual computed with --dtype f32 ...' },
  ],
};

test('the matrices are listed worst reconstructed first; what is left out, by reason with the most energy first', () => {
  assert.deepEqual(loraMatrixRows(result.matrices).map((m) => m.rank), [128, 40, 3]);
  assert.deepEqual(leftOutGroups(result.leftOut).map((g) => [g.reason, g.tensors, Number(g.energyShare.toFixed(6))]),
    [['embedding', 1, 0.05], ['not-a-matrix', 2, 0.003], ['unchanged', 1, 0]]);
  assert.equal(rankWords(result), '3 to 128 (95.00% of each matrix\'s energy, at most 128)');
  assert.equal(rankWords({ ranks: { rank: 16 }, matrices: [matrix('a', 16, 1, 0), matrix('b', 16, 1, 0)] }), '16 for every matrix');
});

test('the view gives the size against the full residual, the energy carried and left out, the backend and the table', () => {
  const html = loraHtml(result, { base: '/m/base', instruct: '/m/instruct' }, 'NONCE');
  assert.match(html, /<th scope="row">Size<\/th><td>12\.5 MB: 5\.00% of the full residual \(250 MB\)<\/td>/);
  assert.match(html, /<th scope="row">Energy carried<\/th><td>81\.00% of the residual&#39;s squared Frobenius norm<\/td>/);
  assert.match(html, /<th scope="row">Energy left out<\/th><td>5\.30%<\/td>/);
  assert.match(html, /<th scope="row">SVDs on<\/th><td>WebAssembly SIMD on the CPU<\/td>/);
  assert.match(html, /<th scope="row">Base<\/th><td>\/m\/base<\/td>/);
  assert.match(html, /<tr data-reason="not-a-matrix"><td>1-D deltas[^<]*<\/td><td class="num">2<\/td><td class="num">0\.30%<\/td><\/tr>/);
  // One format per column: the errors span 0.0021 to 0.61, all in fixed notation with four digits.
  assert.match(html, /<td class="name">model\.<wbr>layers\.<wbr>1\.<wbr>mlp\.<wbr>down_proj<\/td><td class="nowrap">\[4096, 11008\]<\/td><td class="num">128<\/td><td class="num">62\.00%<\/td><td class="num">0\.6100<\/td>/);
  assert.match(html, /<td class="num">3<\/td><td class="num">95\.10%<\/td><td class="num">0\.002100<\/td>/);
  assert.ok(html.indexOf('down_proj') < html.indexOf('&#60;up&#62;_proj') && html.indexOf('&#60;up&#62;_proj') < html.indexOf('q_proj'), 'worst first');
  assert.ok(!html.includes('<up>') && !html.includes('<tokenizers>'), 'names and messages are escaped');
});

test('the notes: warnings in the editor\'s words and the mixed-ranks note without CLI flags; the dry run\'s notes left out', () => {
  const html = loraHtml(result, { residual: '/m/residual' }, 'NONCE');
  assert.match(html, /data-rule="mixed-ranks"><span class="rule">mixed-ranks<\/span> The ranks differ between modules/);
  assert.match(html, /data-rule="tokenizer-differs"/);
  assert.match(html, /checkpointSurgeon\.residualDtype set to &#34;f32&#34;/);
  assert.ok(!html.includes('--rank') && !html.includes('--dtype') && !html.includes('ranks-from-spectra'));
  assert.match(html, /<th scope="row">Residual<\/th><td>\/m\/residual<\/td>/);
});

test('the page runs only its own script, which posts which button was pressed', () => {
  const html = loraHtml(result, { residual: '/m/residual' }, 'NONCE');
  assert.match(html, /script-src 'nonce-NONCE'/);
  assert.equal((html.match(/<script/g) ?? []).length, 1);
  assert.match(html, /<script nonce="NONCE">/);
  assert.match(html, /data-action="openModelCard">Open model card<\/button>/);
  assert.match(html, /data-action="reveal">Reveal in Explorer<\/button>/);
});
