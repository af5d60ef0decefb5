/**
 * A checkpoint's quantization in words: one definition for inspect's line, diff's lines, the report webview's
 * Quantization row and the model card. Pure, with no Node imports: the webview bundle takes it.
 */
import { formatCount } from './quantities';
import type { DiffReport, ReportQuantization } from './report';

/** What inspect and the report say of a quantization (InspectQuantization, ReportQuantization). */
interface QuantizationScheme {
  method: string;
  layout?: string;
  blockSize?: readonly [number, number];
}

/** `fp8, block scales 128 x 128`, `fbgemm_fp8, per-channel scales`; the method alone where the layout is unknown. */
export function quantizationScheme(scheme: QuantizationScheme): string {
  const layout = scheme.blockSize ? `${scheme.layout ?? 'block'} scales ${scheme.blockSize[0]} x ${scheme.blockSize[1]}`
    : scheme.layout ? `${scheme.layout} scales` : undefined;
  return [scheme.method, layout].filter(Boolean).join(', ');
}

/** `fp8, block scales 128 x 128, 3 of 9 tensors quantized`. */
function reportQuantizationText(quantization: ReportQuantization): string {
  const { tensors, quantizedTensors } = quantization;
  return `${quantizationScheme(quantization)}, ${formatCount(quantizedTensors.length)} of ${formatCount(tensors)} ${tensors === 1 ? 'tensor' : 'tensors'} quantized`;
}

/**
 * One line per FP8 side of a report, `A: fp8, block scales 128 x 128, 3 of 9 tensors quantized (compared dequantized)`;
 * none when neither side is quantized.
 */
export function reportQuantizationLines(report: Pick<DiffReport, 'quantization'>): string[] {
  return (['a', 'b'] as const).flatMap((side) => {
    const quantization = report.quantization?.[side];
    return quantization ? [`${side.toUpperCase()}: ${reportQuantizationText(quantization)} (compared dequantized)`] : [];
  });
}
