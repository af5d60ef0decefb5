import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ReportQuantization } from '../../../src/shared/report';
import { quantizationFact } from '../../../webview/summary-model';

const block: ReportQuantization = {
  method: 'fp8', layout: 'block', blockSize: [128, 128], tensors: 1234, quantizedTensors: ['model.layers.0.mlp.down_proj.weight', 'model.layers.0.self_attn.q_proj.weight'],
};

test('the summary has a Quantization row only where a side is FP8, one entry per side', () => {
  assert.equal(quantizationFact({}), null);
  assert.equal(quantizationFact({ quantization: {} }), null);
  assert.equal(quantizationFact({ quantization: { a: block } }), 'A: fp8, block scales 128 x 128, 2 of 1,234 tensors quantized (compared dequantized)');
  const channel: ReportQuantization = { method: 'fbgemm_fp8', layout: 'per-channel', tensors: 1, quantizedTensors: ['x.weight'] };
  assert.equal(quantizationFact({ quantization: { a: block, b: channel } }),
    'A: fp8, block scales 128 x 128, 2 of 1,234 tensors quantized (compared dequantized); '
    + 'B: fbgemm_fp8, per-channel scales, 1 of 1 tensor quantized (compared dequantized)');
});
