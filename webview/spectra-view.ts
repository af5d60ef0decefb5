/**
 * The spectra section: one line per module across the layers (chart.js line chart) of the mean
 * effective rank or energy share of the delta matrices, the provider line, and the matrices with
 * the lowest effective rank. Hidden while the report has no spectra.
 */
import { Legend, LineController, LineElement, PointElement } from 'chart.js';
import { formatCount, formatPercent, formatShape, formatStatistic } from '../src/shared/quantities';
import type { DiffReport } from '../src/shared/report';
import { Chart } from './charts';
import { parseCssColour, toCss, type Rgba } from './colour';
import { fileText, h, section } from './dom';
import { buildSpectraModel, SPECTRA_METRICS, type SpectraMetric, type SpectraModel } from './spectra-model';
import type { ThemeColours } from './theme';
import { visibleText } from './visible-text';

Chart.register(LineController, LineElement, PointElement, Legend);

const CHART_HEIGHT_PIXELS = 320;
/**
 * VS Code's chart colours, in the order its own charts use them; the fallbacks are the Dark Modern
 * values for hosts that define only some of the variables.
 */
const SERIES_COLOUR_VARIABLES: ReadonlyArray<[string, Rgba]> = [
  ['--vscode-charts-blue', { r: 55, g: 148, b: 255, a: 1 }],
  ['--vscode-charts-red', { r: 241, g: 76, b: 76, a: 1 }],
  ['--vscode-charts-green', { r: 137, g: 209, b: 133, a: 1 }],
  ['--vscode-charts-yellow', { r: 204, g: 167, b: 0, a: 1 }],
  ['--vscode-charts-orange', { r: 209, g: 134, b: 22, a: 1 }],
  ['--vscode-charts-purple', { r: 177, g: 128, b: 215, a: 1 }],
];
/** Past the six theme colours, lines repeat them with these dash patterns so that 7+ modules stay apart. */
const DASH_PATTERNS: readonly number[][] = [[], [6, 3], [2, 2], [8, 3, 2, 3]];

function readSeriesColours(): Rgba[] {
  const style = getComputedStyle(document.documentElement);
  return SERIES_COLOUR_VARIABLES.map(([name, fallback]) => parseCssColour(style.getPropertyValue(name).trim()) ?? fallback);
}

export class SpectraView {
  /** The whole section, heading included, so that it can be hidden as one. */
  readonly element: HTMLElement;
  private readonly providerLine = h('p', { className: 'spectra-provider' });
  private readonly metricSelect = document.createElement('vscode-single-select');
  private readonly canvasBox = h('div', { className: 'spectra-box' });
  private readonly legend = h('p', { className: 'legend' });
  private readonly lowestBox = h('div', { className: 'spectra-lowest-box' });
  private chart: Chart<'line', Array<number | null>, string> | null = null;
  private model: SpectraModel | null = null;
  private metric: SpectraMetric = 'effectiveRank';
  private metricOptions = '';
  private colours = readSeriesColours();

  constructor(private theme: ThemeColours, private readonly onSelect: (name: string) => void) {
    this.metricSelect.id = 'spectra-metric';
    this.metricSelect.addEventListener('change', () => {
      const chosen = SPECTRA_METRICS.find((metric) => metric.id === this.metricSelect.value);
      if (chosen === undefined || chosen.id === this.metric) return;
      this.metric = chosen.id;
      this.draw();
    });
    this.canvasBox.style.height = `${CHART_HEIGHT_PIXELS}px`;
    this.element = section('Spectra of the deltas per layer',
      this.providerLine,
      h('div', { className: 'table-controls' }, h('label', { attributes: { for: 'spectra-metric' } }, 'Show'), this.metricSelect),
      this.canvasBox,
      this.legend,
      h('h3', {}, 'Matrices with the lowest effective rank'),
      this.lowestBox);
    this.element.classList.add('spectra');
    this.element.hidden = true;
  }

  update(report: Pick<DiffReport, 'tensors' | 'spectraProvider'> | null): void {
    this.model = report === null ? null : buildSpectraModel(report);
    const { model } = this;
    this.element.hidden = model === null;
    if (model === null) return;
    this.providerLine.replaceChildren(fileText(model.provider));
    if (!model.metrics.includes(this.metric)) this.metric = model.metrics[0] ?? 'effectiveRank';
    this.fillMetricOptions(model);
    this.legend.textContent = `${formatCount(model.matrices)} matrices; each point is the mean over a module's matrices in a layer. `
      + `Effective rank (Roy and Vetterli) is over the leading singular values computed (at most ${model.maxComputed}); `
      + 'energy in the top r is the share of the squared Frobenius norm of the delta in its r largest singular values.';
    this.lowestBox.replaceChildren(this.lowestTable(model));
    this.draw();
  }

  setTheme(theme: ThemeColours): void {
    this.theme = theme;
    this.colours = readSeriesColours();
    if (this.chart !== null) this.draw();
  }

  private fillMetricOptions(model: SpectraModel): void {
    const key = model.metrics.join(',');
    if (key !== this.metricOptions) {
      this.metricOptions = key;
      this.metricSelect.replaceChildren(...SPECTRA_METRICS.filter((metric) => model.metrics.includes(metric.id)).map((metric) => {
        const option = document.createElement('vscode-option');
        option.value = metric.id;
        option.textContent = metric.label;
        return option;
      }));
    }
    this.metricSelect.value = this.metric;
  }

  private lowestTable(model: SpectraModel): HTMLElement {
    const body = h('tbody');
    for (const row of model.lowest) {
      const name = h('button', { className: 'link', attributes: { type: 'button' } }, fileText(row.name));
      name.addEventListener('click', () => this.onSelect(row.name));
      body.appendChild(h('tr', {},
        h('td', {}, name),
        h('td', {}, row.layer),
        h('td', {}, fileText(row.module)),
        h('td', {}, formatShape(row.shape)),
        h('td', { className: 'numeric' }, `${formatStatistic(row.effectiveRank)} of ${row.computed}`),
        h('td', { className: 'numeric' }, formatPercent(row.energyAt8)),
        h('td', { className: 'numeric' }, formatPercent(row.energyAt64))));
    }
    return h('table', { className: 'plain spectra-lowest' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Tensor'), h('th', {}, 'Layer'), h('th', {}, 'Module'), h('th', {}, 'Shape'),
        h('th', {}, 'Effective rank'), h('th', {}, 'Energy, top 8'), h('th', {}, 'Energy, top 64'))),
      body);
  }

  private draw(): void {
    const { model } = this;
    if (model === null) return;
    const series = model.series[this.metric];
    const isEnergy = this.metric !== 'effectiveRank';
    const label = SPECTRA_METRICS.find((metric) => metric.id === this.metric)?.label ?? '';
    const datasets = series.map((line, index) => {
      const colour = toCss(this.colours[index % this.colours.length]!);
      return {
        // Legend labels are drawn on the canvas; module names come from files, so their controls are made visible.
        label: visibleText(line.module),
        data: line.values,
        borderColor: colour,
        backgroundColor: colour,
        borderDash: DASH_PATTERNS[Math.floor(index / this.colours.length) % DASH_PATTERNS.length]!,
        borderWidth: this.theme.highContrast ? 2.5 : 1.5,
        pointRadius: 2,
        spanGaps: false,
      };
    });
    if (this.chart === null) {
      const canvas = h('canvas', { attributes: { role: 'img', 'aria-label': 'Spectra of the delta matrices by layer and module' } });
      this.canvasBox.replaceChildren(canvas);
      this.chart = new Chart<'line', Array<number | null>, string>(canvas, {
        type: 'line',
        data: { labels: model.layers, datasets },
        options: { maintainAspectRatio: false, interaction: { mode: 'nearest', intersect: false } },
      });
    } else {
      this.chart.data.labels = model.layers;
      this.chart.data.datasets = datasets;
    }
    const counts = series.map((line) => line.counts);
    this.chart.options.plugins = {
      legend: { display: true, position: 'bottom', labels: { boxWidth: 24, boxHeight: 2 } },
      tooltip: {
        callbacks: {
          title: (items) => `layer ${items[0]?.label ?? ''}`,
          label: (item) => {
            const value = item.parsed.y;
            const count = counts[item.datasetIndex]?.[item.dataIndex] ?? 0;
            const shown = isEnergy ? formatPercent(value) : formatStatistic(value);
            return `${item.dataset.label ?? ''}: ${shown} (mean of ${count} matri${count === 1 ? 'x' : 'ces'})`;
          },
        },
      },
    };
    this.chart.options.scales = {
      x: { type: 'category', title: { display: true, text: 'layer' }, ticks: { autoSkip: true, maxRotation: 0 } },
      y: isEnergy
        ? { type: 'linear', min: 0, max: 1, title: { display: true, text: label }, ticks: { callback: (value) => formatPercent(Number(value)) } }
        : { type: 'linear', beginAtZero: true, title: { display: true, text: label } },
    };
    this.chart.update();
  }
}
