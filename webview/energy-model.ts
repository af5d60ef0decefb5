/**
 * Energy against rank, for the rank of a LoRA export: for each module, the mean over the layers of the share of a
 * delta's squared Frobenius norm in its r largest singular values, Σ_{i≤r} s_i² / ‖Δ‖²_F, for r = 1 up to the
 * values computed. That share is what an adapter of rank r carries of the module's deltas (Eckart–Young). Pure.
 */
import { DEFAULT_LORA_RANK } from '../src/shared/defaults';
import type { SpectralSummary, TensorReport } from '../src/shared/report';
import { layerLabel } from './heatmap-model';
import { compareModules } from './module-order';

/** One line of the chart: a module's energy at each rank. */
export interface EnergyCurve {
  module: string;
  /** Index r - 1: the mean over the layers of the share at rank r; null for a module whose deltas are all zero. */
  shares: Array<number | null>;
  /** Matrices and layers the means are over. */
  matrices: number;
  layers: number;
}

export interface EnergyModel {
  /** The largest number of singular values computed for one matrix: the ranks the chart spans, 1 to this. */
  maxComputed: number;
  /**
   * In architecture order, and the same modules as the spectra chart's lines (every module with a spectrum), so
   * that a module's line takes the same colour in both charts.
   */
  curves: EnergyCurve[];
}

/**
 * The share of a matrix's energy in its r largest singular values, r = 1 to `ranks`; null for a zero matrix.
 * Past the values computed the share stays where it ended: a matrix has fewer values than the largest rank the
 * pass reached only when it has no more (min(rows, cols) is below it), so its spectrum is whole by then. The
 * randomized SVD's values can sum a hair past the norm, so shares are capped at 1.
 */
export function capturedEnergy(spectra: Pick<SpectralSummary, 'singularValues' | 'frobeniusNorm'>, ranks: number): number[] | null {
  const total = spectra.frobeniusNorm ** 2;
  if (!(total > 0) || !Number.isFinite(total)) return null;
  const shares = new Array<number>(ranks);
  let sum = 0;
  for (let r = 0; r < ranks; r++) {
    const value = spectra.singularValues[r];
    if (value !== undefined && Number.isFinite(value)) sum += value * value;
    shares[r] = Math.min(1, sum / total);
  }
  return shares;
}

/** null when no tensor of the report has a spectrum (the chart is then hidden, as the spectra section is). */
export function buildEnergyModel(tensors: readonly TensorReport[]): EnergyModel | null {
  const withSpectra = tensors.filter((tensor): tensor is TensorReport & { spectra: SpectralSummary } => tensor.spectra !== undefined);
  if (withSpectra.length === 0) return null;
  const maxComputed = Math.max(...withSpectra.map((tensor) => tensor.spectra.singularValues.length));
  // Per module, per layer: the sum of the matrices' shares and their count (MoE layers hold one per expert).
  const byModule = new Map<string, Map<string, { sums: Float64Array; count: number }>>();
  for (const tensor of withSpectra) {
    const layers = byModule.get(tensor.module) ?? new Map<string, { sums: Float64Array; count: number }>();
    byModule.set(tensor.module, layers);
    const shares = capturedEnergy(tensor.spectra, maxComputed);
    if (shares === null) continue;
    const label = layerLabel(tensor.layer);
    const layer = layers.get(label) ?? { sums: new Float64Array(maxComputed), count: 0 };
    layers.set(label, layer);
    for (let r = 0; r < maxComputed; r++) layer.sums[r]! += shares[r]!;
    layer.count += 1;
  }
  const curves = [...byModule.keys()].sort(compareModules).map((module): EnergyCurve => {
    const layers = [...byModule.get(module)!.values()];
    const matrices = layers.reduce((sum, layer) => sum + layer.count, 0);
    if (layers.length === 0) return { module, shares: new Array<null>(maxComputed).fill(null), matrices: 0, layers: 0 };
    const shares = Array.from({ length: maxComputed }, (_, r) => layers.reduce((sum, layer) => sum + layer.sums[r]! / layer.count, 0) / layers.length);
    return { module, shares, matrices, layers: layers.length };
  });
  return { maxComputed, curves };
}

/** The rank the picker starts at: the export's default, or the largest rank computed where that is smaller. */
export function defaultPickedRank(maxComputed: number): number {
  return Math.max(1, Math.min(DEFAULT_LORA_RANK, maxComputed));
}

/** A typed or dragged rank as the picker takes it: a whole number from 1 to the ranks computed, else null. */
export function parsePickedRank(text: string, maxComputed: number): number | null {
  const trimmed = text.trim();
  if (!/^\d+$/u.test(trimmed)) return null;
  const rank = Number(trimmed);
  return rank >= 1 && rank <= maxComputed ? rank : null;
}

/**
 * The rank axis' ticks: 1, then multiples of a power of two (8 for 64 ranks, 32 for 256) up to the last rank,
 * about eight of them, without a multiple crowding the last rank's label.
 */
export function rankTicks(maxComputed: number): number[] {
  let step = 1;
  while (maxComputed / step > 8) step *= 2;
  const ticks = [1];
  for (let rank = step; rank < maxComputed; rank += step) if (rank > 1 && maxComputed - rank >= step / 2) ticks.push(rank);
  if (maxComputed > 1) ticks.push(maxComputed);
  return ticks;
}

/** Each module's energy at `rank`, in the curves' order. */
export function energyAtRank(model: EnergyModel, rank: number): Array<{ module: string; share: number | null; matrices: number; layers: number }> {
  return model.curves.map((curve) => ({ module: curve.module, share: curve.shares[rank - 1] ?? null, matrices: curve.matrices, layers: curve.layers }));
}
