/** The delta histogram of the selected tensor (chart.js bar) with its statistics. */
import { formatCount, formatStatistic } from '../src/shared/quantities';
import type { TensorReport } from '../src/shared/report';
import { Chart } from './charts';
import { toCss } from './colour';
import { fileText, h } from './dom';
import type { ThemeColours } from './theme';

export function binCentres(min: number, max: number, bins: number): number[] {
  const width = (max - min) / bins;
  return Array.from({ length: bins }, (_, i) => min + (i + 0.5) * width);
}

export class HistogramView {
  readonly element: HTMLElement;
  private readonly title: HTMLHeadingElement;
  private readonly facts: HTMLElement;
  private readonly canvasBox: HTMLDivElement;
  private chart: Chart<'bar'> | null = null;

  constructor(private theme: ThemeColours) {
    this.title = h('h3', {}, 'Select a tensor to see its delta histogram.');
    this.facts = h('dl', { className: 'facts' });
    this.canvasBox = h('div', { className: 'histogram-box' });
    this.element = h('div', { className: 'histogram' }, this.title, this.facts, this.canvasBox);
  }

  show(tensor: TensorReport | null): void {
    this.facts.replaceChildren();
    if (tensor === null) {
      this.title.textContent = 'Select a tensor to see its delta histogram.';
      this.canvasBox.hidden = true;
      return;
    }
    this.title.replaceChildren('Delta histogram of ', fileText(tensor.name));
    const facts: Array<[string, string]> = [
      ['elements', tensor.elements === undefined ? '—' : formatCount(tensor.elements)],
      ['mean Δ', formatStatistic(tensor.meanDelta)],
      ['std Δ', formatStatistic(tensor.stdDelta)],
      ['max |Δ|', formatStatistic(tensor.maxAbsDelta)],
      ['non-finite', tensor.nonFinite === undefined ? '—' : String(tensor.nonFinite)],
    ];
    for (const [term, value] of facts) this.facts.append(h('dt', {}, term), h('dd', {}, value));
    const histogram = tensor.histogram;
    if (histogram === undefined || histogram.counts.length === 0) {
      this.canvasBox.hidden = true;
      this.facts.append(h('dt', {}, 'histogram'), h('dd', {}, `none (${tensor.status})`));
      return;
    }
    this.canvasBox.hidden = false;
    const labels = binCentres(histogram.min, histogram.max, histogram.counts.length).map(formatStatistic);
    if (this.chart === null) {
      const canvas = h('canvas', { attributes: { role: 'img', 'aria-label': 'Histogram of the delta B − A' } });
      this.canvasBox.replaceChildren(canvas);
      this.chart = new Chart(canvas, {
        type: 'bar',
        data: { labels, datasets: [{ data: histogram.counts }] },
        options: {
          maintainAspectRatio: false,
          plugins: { legend: { display: false } },
          scales: {
            x: { title: { display: true, text: 'Δ = B − A (bin centre)' }, ticks: { maxRotation: 0, autoSkipPadding: 24 } },
            y: { title: { display: true, text: 'elements' }, beginAtZero: true },
          },
        },
      });
    } else {
      this.chart.data.labels = labels;
      this.chart.data.datasets[0]!.data = histogram.counts;
    }
    this.style();
    this.chart.update();
  }

  setTheme(theme: ThemeColours): void {
    this.theme = theme;
    if (this.chart !== null) {
      this.style();
      this.chart.update();
    }
  }

  private style(): void {
    const dataset = this.chart?.data.datasets[0];
    if (dataset === undefined) return;
    dataset.backgroundColor = toCss(this.theme.bars);
    dataset.borderColor = toCss(this.theme.contrastBorder ?? this.theme.bars);
    dataset.borderWidth = this.theme.highContrast ? 1 : 0;
    dataset.barPercentage = 1;
    dataset.categoryPercentage = 1;
  }
}
