/**
 * What the spectra section shows: per layer and module, the mean effective rank and the mean share
 * of the Frobenius energy at ranks 8/16/64/256 of the delta matrices, the provider line, and the
 * matrices with the lowest effective rank. Pure.
 */
import type { DiffReport, SpectralSummary, TensorReport } from '../src/shared/report';
import { layerLabel, OUTSIDE_LAYERS } from './heatmap-model';
import { compareModules } from './module-order';

export const ENERGY_RANKS = [8, 16, 64, 256] as const;
export type EnergyRank = (typeof ENERGY_RANKS)[number];

/** What the chart plots on its y axis. */
export type SpectraMetric = 'effectiveRank' | `energy${EnergyRank}`;

export const SPECTRA_METRICS: ReadonlyArray<{ id: SpectraMetric; label: string; rank: EnergyRank | null }> = [
  { id: 'effectiveRank', label: 'Effective rank', rank: null },
  ...ENERGY_RANKS.map((rank) => ({ id: `energy${rank}` as const, label: `Energy in the top ${rank}`, rank })),
];

/** Ten rows are enough to spot a near rank-one update without scrolling past the chart. */
export const LOWEST_RANK_ROWS = 10;

/** One line of the chart: a module across the layers. */
export interface SpectraSeries {
  module: string;
  /** Mean over the module's matrices in each layer (index = position in `layers`); null where it has none. */
  values: Array<number | null>;
  /** Matrices the mean is over, per layer (MoE layers hold one per expert). */
  counts: number[];
}

export interface LowRankRow {
  name: string;
  layer: string;
  module: string;
  shape: number[] | undefined;
  effectiveRank: number;
  /** Singular values computed (the effective rank is over these). */
  computed: number;
  energy: SpectralSummary['energyAtRank'];
}

export interface SpectraModel {
  /** Matrices with a spectrum. */
  matrices: number;
  /** "Spectra on ...": the report's line, else the providers the tensors name (a live run). */
  provider: string;
  /** x axis: numbered layers in order, then `other` for matrices outside the layers. */
  layers: string[];
  /** In architecture order (module-order.ts), the order of the chart's lines and legend. */
  modules: string[];
  /**
   * Largest number of singular values computed for one matrix: the rank the spectral pass ran at
   * (smaller matrices have fewer), and the ceiling of every effective rank.
   */
  maxComputed: number;
  /**
   * Metrics with at least one value, and energy only at ranks the pass computed (r <= maxComputed):
   * a matrix smaller than r has its energy at r from its whole spectrum, which is not a rank the
   * settings asked for.
   */
  metrics: SpectraMetric[];
  /** The energy ranks among `metrics`, in order: the columns of the lowest-rank table. */
  energyRanks: EnergyRank[];
  series: Record<SpectraMetric, SpectraSeries[]>;
  lowest: LowRankRow[];
}

function metricValue(spectra: SpectralSummary, metric: SpectraMetric): number | null {
  if (metric === 'effectiveRank') return spectra.effectiveRank;
  const rank = Number(metric.slice('energy'.length)) as EnergyRank;
  return spectra.energyAtRank[rank] ?? null;
}

function finite(value: number | null | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** null when no tensor of the report has a spectrum (the section is then hidden). */
export function buildSpectraModel(
  report: Pick<DiffReport, 'tensors' | 'spectraProvider'>,
  lowestRows = LOWEST_RANK_ROWS,
): SpectraModel | null {
  const withSpectra = report.tensors.filter((tensor): tensor is TensorReport & { spectra: SpectralSummary } => tensor.spectra !== undefined);
  if (withSpectra.length === 0) return null;

  const moduleSet = new Set<string>();
  const numbered = new Set<number>();
  let hasOutside = false;
  let maxComputed = 0;
  const providers = new Set<string>();
  for (const tensor of withSpectra) {
    moduleSet.add(tensor.module);
    if (tensor.layer === null) hasOutside = true;
    else numbered.add(tensor.layer);
    maxComputed = Math.max(maxComputed, tensor.spectra.singularValues.length);
    providers.add(tensor.spectra.provider);
  }
  const modules = [...moduleSet].sort(compareModules);
  const moduleIndex = new Map(modules.map((module, index) => [module, index]));
  const layers = [...numbered].sort((x, y) => x - y).map(String);
  if (hasOutside) layers.push(OUTSIDE_LAYERS);
  const layerIndex = new Map(layers.map((label, index) => [label, index]));

  const series = {} as Record<SpectraMetric, SpectraSeries[]>;
  const metrics: SpectraMetric[] = [];
  for (const { id, rank } of SPECTRA_METRICS) {
    const sums = modules.map(() => new Array<number>(layers.length).fill(0));
    const counts = modules.map(() => new Array<number>(layers.length).fill(0));
    for (const tensor of withSpectra) {
      const value = metricValue(tensor.spectra, id);
      if (!finite(value)) continue;
      const row = moduleIndex.get(tensor.module)!;
      const column = layerIndex.get(layerLabel(tensor.layer))!;
      sums[row]![column]! += value;
      counts[row]![column]! += 1;
    }
    series[id] = modules.map((module, row) => ({
      module,
      values: sums[row]!.map((sum, column) => (counts[row]![column]! > 0 ? sum / counts[row]![column]! : null)),
      counts: counts[row]!,
    }));
    if (counts.some((row) => row.some((count) => count > 0)) && (rank === null || rank <= maxComputed)) metrics.push(id);
  }

  const lowest = withSpectra
    .filter((tensor) => finite(tensor.spectra.effectiveRank))
    .sort((x, y) => x.spectra.effectiveRank - y.spectra.effectiveRank || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
    .slice(0, Math.max(0, lowestRows))
    .map((tensor) => ({
      name: tensor.name,
      layer: layerLabel(tensor.layer),
      module: tensor.module,
      shape: tensor.b?.shape ?? tensor.a?.shape,
      effectiveRank: tensor.spectra.effectiveRank,
      computed: tensor.spectra.singularValues.length,
      energy: tensor.spectra.energyAtRank,
    }));

  const provider = report.spectraProvider ?? `Spectra on ${[...providers].sort().join(', ')}`;
  const energyRanks = SPECTRA_METRICS.filter((metric) => metric.rank !== null && metrics.includes(metric.id)).map((metric) => metric.rank!);
  return { matrices: withSpectra.length, provider, layers, modules, maxComputed, metrics, energyRanks, series, lowest };
}

/**
 * The Okabe-Ito palette (Okabe and Ito 2008), which stays distinct under the common colour-vision
 * deficiencies. Black is left out on dark backgrounds, where it would vanish; yellow on light ones.
 */
const OKABE_ITO = {
  skyBlue: '#56B4E9', orange: '#E69F00', bluishGreen: '#009E73', reddishPurple: '#CC79A7',
  yellow: '#F0E442', black: '#000000', blue: '#0072B2', vermillion: '#D55E00',
} as const;
/** Neighbouring lines (q, k, v, o) get colours far apart. */
const DARK_PALETTE = [OKABE_ITO.skyBlue, OKABE_ITO.orange, OKABE_ITO.bluishGreen, OKABE_ITO.reddishPurple, OKABE_ITO.yellow, OKABE_ITO.blue, OKABE_ITO.vermillion];
const LIGHT_PALETTE = [OKABE_ITO.blue, OKABE_ITO.orange, OKABE_ITO.bluishGreen, OKABE_ITO.reddishPurple, OKABE_ITO.black, OKABE_ITO.skyBlue, OKABE_ITO.vermillion];
/** Point shapes: a second cue besides colour, for every line. */
const POINT_STYLES = ['circle', 'triangle', 'rect', 'rectRot', 'crossRot', 'star', 'rectRounded'] as const;
/** Past the seven colours, lines repeat them with these dash patterns (and other shapes). */
const DASH_PATTERNS: readonly number[][] = [[], [6, 3], [2, 2], [8, 3, 2, 3]];

export interface SeriesStyle {
  colour: string;
  pointStyle: (typeof POINT_STYLES)[number];
  dash: number[];
}

/** The look of the chart's `index`-th line: colour, point shape and dash differ between any two of the first 28. */
export function seriesStyle(index: number, light: boolean): SeriesStyle {
  const palette = light ? LIGHT_PALETTE : DARK_PALETTE;
  const cycle = Math.floor(index / palette.length);
  return {
    colour: palette[index % palette.length]!,
    pointStyle: POINT_STYLES[(index + cycle) % POINT_STYLES.length]!,
    dash: DASH_PATTERNS[cycle % DASH_PATTERNS.length]!,
  };
}
