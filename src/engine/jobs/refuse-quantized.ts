import type { Checkpoint } from '../checkpoint/checkpoint-types';
import { describeFp8Checkpoint } from '../checkpoint/fp8-scales';
import { detectQuantization, type QuantizationDescription } from '../checkpoint/quantization';
import { SurgeonError } from '../errors';

/**
 * Refuses a quantized checkpoint before any tensor data is read: a residual of packed integers, or
 * of raw FP8 bytes and their scales, would be written without complaint and mean nothing.
 */
export function refuseQuantized(checkpoint: Checkpoint, options: { fp8?: boolean } = {}): void {
  const quantization = detectQuantization(checkpoint);
  // Jobs that dequantize FP8 weights read the layouts docs/fp8.md lists; any other FP8 layout is refused by name
  // (unknown-scale-layout, thrown by describeFp8Checkpoint), any other quantization as before.
  if (quantization && options.fp8 && describeFp8Checkpoint(checkpoint) !== undefined) return;
  if (quantization) throw new SurgeonError('quantized-checkpoint', describeRefusal(quantization), quantization.file);
}

function describeRefusal(quantization: QuantizationDescription): string {
  const { method, evidence, layout, tensors } = quantization;
  const isFp8 = method === 'fp8' || method === 'fbgemm_fp8' || layout === 'fp8-block-scaled' || layout === 'fp8-scaled';
  const what = isFp8 ? 'raw FP8 bytes and a difference of scales' : 'packed quantized values and a difference of scales';
  const advice = isFp8
    ? 'dequantize it to BF16 first (for DeepSeek-style block scales, e.g. DeepSeek\'s fp8_cast_bf16.py), or use the model\'s BF16 release; '
      + 'compute, apply, verify and diff read the FP8 layouts of docs/fp8.md dequantized'
    : 'dequantize it to BF16 or F16 first (e.g. load it with transformers, call model.dequantize() and save_pretrained), '
      + 'or use the model\'s unquantized release';
  const staleConfig = tensors.length === 0 && evidence.startsWith('config.json')
    ? '; if the weights were already dequantized, remove the quantization section from config.json'
    : '';
  return `the checkpoint is quantized (${method}): ${evidence}; a residual would hold ${what}. ${capitalize(advice)}${staleConfig}`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
