/** What the summary shows beyond the counts, as plain values (summary-view.ts renders them). */
import { reportQuantizationLines } from '../src/shared/quantization-text';
import type { DiffReport } from '../src/shared/report';

/**
 * The Quantization row: each FP8 side, `A: fp8, block scales 128 x 128, 3 of 9 tensors quantized (compared
 * dequantized)`, joined by `; `; null when neither side is quantized (no row).
 */
export function quantizationFact(report: Pick<DiffReport, 'quantization'>): string | null {
  const lines = reportQuantizationLines(report);
  return lines.length > 0 ? lines.join('; ') : null;
}
