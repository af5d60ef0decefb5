/**
 * Energy against rank (energy-model.ts): one line per module, in the spectra chart's colours, of the share of the
 * deltas' energy a LoRA adapter of rank r carries; a rank picker (slider, field, or a click on the chart) that draws
 * a marker at the picked rank and lists each module's energy there; and "Export as LoRA adapter at rank N...",
 * which the host runs on what the report describes. Hidden while the report has no spectra.
 */
import { Legend, LineController, LineElement, PointElement, type Plugin } from 'chart.js';
import { formatCount, formatPercent, formatPercentColumn } from '../src/shared/quantities';
import type { DiffReport } from '../src/shared/report';
import { Chart } from './charts';
import { toCss } from './colour';
import { h, nameText, section } from './dom';
import { buildEnergyModel, defaultPickedRank, energyAtRank, parsePickedRank, rankTicks, type EnergyModel } from './energy-model';
import { seriesStyle } from './spectra-model';
import type { ThemeColours } from './theme';
import { visibleText } from './visible-text';

Chart.register(LineController, LineElement, PointElement, Legend);

const CHART_HEIGHT_PIXELS = 300;
/** Room around the plot, so that the points on its edges (rank 1, 100%) are drawn whole. */
const EDGE_PADDING_PIXELS = 8;

/** Points only at powers of two (and the picked rank): a second cue besides colour, without hiding the lines. */
function isMarkedRank(rank: number): boolean {
  return (rank & (rank - 1)) === 0;
}

export class EnergyView {
  /** The whole section, heading included, so that it can be hidden as one. */
  readonly element: HTMLElement;
  private readonly legend = h('p', { className: 'legend' });
  private readonly canvasBox = h('div', { className: 'energy-box' });
  private readonly slider = h('input', { attributes: { type: 'range', id: 'energy-rank-slider', 'aria-label': 'Rank' } });
  private readonly rankField = document.createElement('vscode-textfield');
  private readonly exportButton = document.createElement('vscode-button');
  private readonly rankTableBox = h('div', { className: 'energy-at-rank-box' });
  private chart: Chart<'line', Array<{ x: number; y: number | null }>> | null = null;
  private model: EnergyModel | null = null;
  /** The rank the user picked; kept across updates while the report's spectra reach it. */
  private picked: number | null = null;
  private exportable = false;

  constructor(private theme: ThemeColours, private readonly onExport: (rank: number) => void) {
    this.slider.min = '1';
    this.slider.step = '1';
    this.slider.addEventListener('input', () => this.pick(parsePickedRank(this.slider.value, this.model?.maxComputed ?? 0), 'slider'));
    this.rankField.id = 'energy-rank';
    this.rankField.type = 'number';
    this.rankField.min = 1;
    this.rankField.addEventListener('input', () => this.pick(parsePickedRank(this.rankField.value, this.model?.maxComputed ?? 0), 'field'));
    this.exportButton.id = 'action-export-lora-rank';
    this.exportButton.addEventListener('click', () => {
      if (this.picked !== null) this.onExport(this.picked);
    });
    this.canvasBox.style.height = `${CHART_HEIGHT_PIXELS}px`;
    this.element = section('Energy against rank',
      this.legend,
      this.canvasBox,
      h('div', { className: 'table-controls energy-controls' },
        h('label', { attributes: { for: 'energy-rank' } }, 'Rank'), this.slider, this.rankField, this.exportButton),
      this.rankTableBox);
    this.element.classList.add('energy-rank');
    this.element.hidden = true;
  }

  update(report: Pick<DiffReport, 'tensors'> | null): void {
    this.model = report === null ? null : buildEnergyModel(report.tensors);
    const { model } = this;
    this.element.hidden = model === null;
    if (model === null) return;
    if (this.picked === null || this.picked > model.maxComputed) this.picked = defaultPickedRank(model.maxComputed);
    this.slider.max = String(model.maxComputed);
    this.rankField.max = model.maxComputed;
    this.legend.textContent = `For each module, the mean over its layers of the share of a delta's squared Frobenius norm in its r largest `
      + `singular values: what a LoRA adapter of rank r carries of it, for r = 1 to ${model.maxComputed} (the values the spectra computed). `
      + 'Pick a rank with the slider, the field or a click on the chart.';
    this.showPicked('update');
    this.draw();
  }

  /** Whether the report's host can export what it describes (a residual, or two checkpoints) and the report is finished. */
  setExportable(exportable: boolean): void {
    this.exportable = exportable;
    this.updateButton();
  }

  setTheme(theme: ThemeColours): void {
    this.theme = theme;
    if (this.chart !== null) this.draw();
  }

  private pick(rank: number | null, from: 'slider' | 'field' | 'chart'): void {
    if (rank === null) {
      // A field being typed into (empty, 0, past the ranks computed): the export waits for a rank it can take.
      if (from === 'field') {
        this.picked = null;
        this.updateButton();
      }
      return;
    }
    this.picked = rank;
    this.showPicked(from);
    this.chart?.update();
  }

  /** The controls and the table at the picked rank; the control the user is moving is left alone. */
  private showPicked(from: 'slider' | 'field' | 'chart' | 'update'): void {
    const { model, picked } = this;
    if (model === null || picked === null) return;
    if (from !== 'slider') this.slider.value = String(picked);
    if (from !== 'field') this.rankField.value = String(picked);
    this.rankTableBox.replaceChildren(this.rankTable(model, picked));
    this.updateButton();
  }

  private updateButton(): void {
    this.exportButton.hidden = !this.exportable;
    this.exportButton.disabled = this.picked === null;
    const label = this.picked === null ? 'Export as LoRA adapter…' : `Export as LoRA adapter at rank ${this.picked}…`;
    if (this.exportButton.textContent !== label) this.exportButton.textContent = label;
  }

  private rankTable(model: EnergyModel, rank: number): HTMLElement {
    const body = h('tbody');
    for (const [index, row] of energyAtRank(model, rank).entries()) {
      const swatch = h('span', { className: 'swatch', attributes: { 'aria-hidden': 'true' } });
      swatch.style.background = seriesStyle(index, this.theme.light).colour;
      body.appendChild(h('tr', { attributes: { 'data-module': row.module } },
        h('td', { className: 'nowrap' }, swatch, ' ', nameText(row.module)),
        h('td', { className: 'numeric' }, formatPercentColumn(row.share)),
        h('td', { className: 'numeric' }, formatCount(row.layers)),
        h('td', { className: 'numeric' }, formatCount(row.matrices))));
    }
    return h('table', { className: 'plain energy-at-rank' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Module'), h('th', { className: 'numeric' }, `Energy at rank ${rank}`),
        h('th', { className: 'numeric' }, 'Layers'), h('th', { className: 'numeric' }, 'Matrices'))),
      body);
  }

  private draw(): void {
    const { model } = this;
    if (model === null) return;
    const datasets = model.curves.map((curve, index) => {
      const style = seriesStyle(index, this.theme.light);
      return {
        // Legend labels are drawn on the canvas; module names come from files, so their controls are made visible.
        label: visibleText(curve.module),
        data: curve.shares.map((share, r) => ({ x: r + 1, y: share })),
        borderColor: style.colour,
        backgroundColor: style.colour,
        borderDash: style.dash,
        pointStyle: style.pointStyle,
        borderWidth: this.theme.highContrast ? 2.5 : 1.5,
        pointRadius: (context: { dataIndex: number }) => (isMarkedRank(context.dataIndex + 1) || context.dataIndex + 1 === this.picked ? 3 : 0),
        pointHoverRadius: 4,
        spanGaps: false,
        clip: false as const,
      };
    });
    if (this.chart === null) {
      const canvas = h('canvas', { attributes: { role: 'img', 'aria-label': 'Energy of the deltas against rank, per module' } });
      this.canvasBox.replaceChildren(canvas);
      this.chart = new Chart<'line', Array<{ x: number; y: number | null }>>(canvas, {
        type: 'line',
        data: { datasets },
        options: {
          maintainAspectRatio: false,
          interaction: { mode: 'nearest', axis: 'x', intersect: false },
          onClick: (event, _elements, chart) => {
            const value = event.x === null ? undefined : chart.scales['x']?.getValueForPixel(event.x);
            if (value !== undefined) this.pick(Math.min(this.model?.maxComputed ?? 1, Math.max(1, Math.round(value))), 'chart');
          },
        },
        plugins: [this.rankMarker()],
      });
    } else {
      this.chart.data.datasets = datasets;
    }
    // Room above the plot for the marker's label, so that it never lies on the lines near 100%.
    this.chart.options.layout = { padding: { top: EDGE_PADDING_PIXELS + this.theme.fontSize + 4, right: EDGE_PADDING_PIXELS, bottom: EDGE_PADDING_PIXELS, left: EDGE_PADDING_PIXELS } };
    this.chart.options.plugins = {
      legend: { display: true, position: 'bottom', labels: { usePointStyle: true, pointStyleWidth: 28, boxHeight: 8 } },
      tooltip: {
        callbacks: {
          title: (items) => `rank ${items[0]?.parsed.x ?? ''}`,
          label: (item) => `${item.dataset.label ?? ''}: ${formatPercent(item.parsed.y)}`,
        },
      },
    };
    this.chart.options.scales = {
      x: {
        type: 'linear', min: 1, max: model.maxComputed, title: { display: true, text: 'rank r' }, ticks: { maxRotation: 0 },
        afterBuildTicks: (axis) => {
          axis.ticks = rankTicks(model.maxComputed).map((value) => ({ value }));
        },
      },
      y: { type: 'linear', min: 0, max: 1, title: { display: true, text: 'energy carried' }, ticks: { callback: (value) => formatPercent(Number(value)) } },
    };
    this.chart.update();
  }

  /** A dashed line at the picked rank over the lines, labelled above the plot. */
  private rankMarker(): Plugin<'line'> {
    return {
      id: 'rankMarker',
      afterDatasetsDraw: (chart) => {
        const rank = this.picked;
        const scale = chart.scales['x'];
        if (rank === null || scale === undefined) return;
        const x = scale.getPixelForValue(rank);
        const { top, bottom } = chart.chartArea;
        const context = chart.ctx;
        const colour = toCss(this.theme.foreground);
        context.save();
        context.strokeStyle = colour;
        context.lineWidth = this.theme.highContrast ? 2 : 1;
        context.setLineDash([4, 3]);
        context.beginPath();
        context.moveTo(x, top - this.theme.fontSize - 2);
        context.lineTo(x, bottom);
        context.stroke();
        context.setLineDash([]);
        context.fillStyle = colour;
        context.font = `${this.theme.fontSize}px ${this.theme.fontFamily}`;
        context.textBaseline = 'bottom';
        const label = `r = ${rank}`;
        // The label sits right of the line, or left of it where it would run past the plot.
        const width = context.measureText(label).width;
        context.textAlign = x + 4 + width > chart.chartArea.right ? 'right' : 'left';
        context.fillText(label, context.textAlign === 'right' ? x - 4 : x + 4, top - 3);
        context.restore();
      },
    };
  }
}
