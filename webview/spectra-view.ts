/**
 * The spectra section: one line per module across the layers (chart.js line chart) of the mean
 * effective rank or energy share of the delta matrices, the provider line, and the matrices with
 * the lowest effective rank. Hidden while the report has no spectra.
 */
import { Legend, LineController, LineElement, PointElement } from 'chart.js';
import { formatCount, formatPercent, formatPercentColumn, formatShape, formatStatistic, statisticColumnFormat } from '../src/shared/quantities';
import type { DiffReport } from '../src/shared/report';
import { Chart } from './charts';
import { fileText, h, nameText, section } from './dom';
import { buildSpectraModel, seriesStyle, SPECTRA_METRICS, type SpectraMetric, type SpectraModel } from './spectra-model';
import type { ThemeColours } from './theme';
import { visibleText } from './visible-text';

Chart.register(LineController, LineElement, PointElement, Legend);

const CHART_HEIGHT_PIXELS = 320;
/** Room around the plot, so that the points on its edges (the first and last layer, 100%) are drawn whole. */
const EDGE_PADDING_PIXELS = 8;

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
  private readonly heading: HTMLHeadingElement;

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
    this.heading = this.element.querySelector('h2')!;
  }

  update(report: Pick<DiffReport, 'tensors' | 'spectraProvider'> | null): void {
    this.model = report === null ? null : buildSpectraModel(report);
    const { model } = this;
    this.element.hidden = model === null;
    if (model === null) return;
    this.providerLine.replaceChildren(fileText(model.provider));
    // The rank the pass ran at, as the report's spectra say (the diff.spectraRank setting, or --spectra-rank).
    this.heading.textContent = `Spectra of the deltas per layer: top ${model.maxComputed} singular values per matrix`;
    if (!model.metrics.includes(this.metric)) this.metric = model.metrics[0] ?? 'effectiveRank';
    this.fillMetricOptions(model);
    this.legend.textContent = `${formatCount(model.matrices)} matrices; each point is the mean over a module's matrices in a layer. `
      + `Effective rank (Roy and Vetterli) is over the leading singular values computed (at most ${model.maxComputed}); `
      + `energy in the top r (r = ${model.energyRanks.join(', ') || 'none computed'}) is the share of the squared Frobenius norm of the delta in its r largest singular values.`;
    this.lowestBox.replaceChildren(this.lowestTable(model));
    this.draw();
  }

  setTheme(theme: ThemeColours): void {
    this.theme = theme;
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
    // One format per column, chosen from the column's values.
    const rank = statisticColumnFormat(model.lowest.map((row) => row.effectiveRank));
    const body = h('tbody');
    for (const row of model.lowest) {
      const name = h('button', { className: 'link', attributes: { type: 'button' } }, nameText(row.name));
      name.addEventListener('click', () => this.onSelect(row.name));
      body.appendChild(h('tr', {},
        h('td', {}, name),
        h('td', { className: 'numeric' }, row.layer),
        h('td', {}, nameText(row.module)),
        h('td', { className: 'nowrap' }, formatShape(row.shape)),
        h('td', { className: 'numeric' }, `${rank(row.effectiveRank)} of ${row.computed}`),
        ...model.energyRanks.map((r) => h('td', { className: 'numeric' }, formatPercentColumn(row.energy[r])))));
    }
    return h('table', { className: 'plain spectra-lowest' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Tensor'), h('th', { className: 'numeric' }, 'Layer'), h('th', {}, 'Module'), h('th', {}, 'Shape'),
        h('th', { className: 'numeric' }, 'Effective rank'), ...model.energyRanks.map((r) => h('th', { className: 'numeric' }, `Energy, top ${r}`)))),
      body);
  }

  private draw(): void {
    const { model } = this;
    if (model === null) return;
    const series = model.series[this.metric];
    const isEnergy = this.metric !== 'effectiveRank';
    const label = SPECTRA_METRICS.find((metric) => metric.id === this.metric)?.label ?? '';
    const datasets = series.map((line, index) => {
      const style = seriesStyle(index, this.theme.light);
      return {
        // Legend labels are drawn on the canvas; module names come from files, so their controls are made visible.
        label: visibleText(line.module),
        data: line.values,
        borderColor: style.colour,
        backgroundColor: style.colour,
        borderDash: style.dash,
        pointStyle: style.pointStyle,
        borderWidth: this.theme.highContrast ? 2.5 : 1.5,
        pointRadius: 3,
        pointHoverRadius: 5,
        spanGaps: false,
        // Points on the plot's edges (the first and last layer, 100%) are drawn whole, over the padding.
        clip: false as const,
      };
    });
    if (this.chart === null) {
      const canvas = h('canvas', { attributes: { role: 'img', 'aria-label': 'Spectra of the delta matrices by layer and module' } });
      this.canvasBox.replaceChildren(canvas);
      this.chart = new Chart<'line', Array<number | null>, string>(canvas, {
        type: 'line',
        data: { labels: model.layers, datasets },
        options: {
          maintainAspectRatio: false,
          interaction: { mode: 'nearest', intersect: false },
          layout: { padding: EDGE_PADDING_PIXELS },
        },
      });
    } else {
      this.chart.data.labels = model.layers;
      this.chart.data.datasets = datasets;
    }
    const counts = series.map((line) => line.counts);
    this.chart.options.plugins = {
      legend: { display: true, position: 'bottom', labels: { usePointStyle: true, pointStyleWidth: 28, boxHeight: 8 } },
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
      // Offset: half a layer of room before the first layer and after the last, so their points are not cut.
      x: { type: 'category', offset: true, title: { display: true, text: 'layer' }, ticks: { autoSkip: true, maxRotation: 0 } },
      y: isEnergy
        ? { type: 'linear', min: 0, max: 1, title: { display: true, text: label }, ticks: { callback: (value) => formatPercent(Number(value)) } }
        // The effective rank is at most the values computed: that is the axis' ceiling.
        : { type: 'linear', min: 0, max: model.maxComputed, title: { display: true, text: `${label} (of ${model.maxComputed})` } },
    };
    this.chart.update();
  }
}
