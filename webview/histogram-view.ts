/**
 * The delta histogram of one tensor (chart.js bars on a linear axis) with its statistics. It shows
 * a row of the table as filtered (the selected one, else the first), so a filter from the heatmap
 * or the summary updates it too. The axis ticks are round values (1, 2, 5 x 10^k), not bin centres.
 */
import { formatAxisValue, formatCount, formatStatistic } from '../src/shared/quantities';
import type { TensorReport } from '../src/shared/report';
import { Chart } from './charts';
import { toCss } from './colour';
import { fileText, h } from './dom';
import { binCentres, niceTicks } from './histogram-model';
import type { ThemeColours } from './theme';

/** Room one x tick label needs, in pixels (`-2.5e-4` with space around it). */
const TICK_LABEL_PIXELS = 80;

export class HistogramView {
  readonly element: HTMLElement;
  private readonly title: HTMLHeadingElement;
  private readonly facts: HTMLElement;
  private readonly canvasBox: HTMLDivElement;
  private chart: Chart<'bar', Array<{ x: number; y: number }>> | null = null;
  private range = { min: 0, max: 1 };

  constructor(private theme: ThemeColours) {
    this.title = h('h3', {}, 'Select a tensor to see its delta histogram.');
    this.facts = h('dl', { className: 'facts' });
    this.canvasBox = h('div', { className: 'histogram-box' });
    this.element = h('div', { className: 'histogram' }, this.title, this.facts, this.canvasBox);
  }

  /** `emptyText`: what to say without a tensor (none selected, or a filter that leaves no rows). */
  show(tensor: TensorReport | null, emptyText = 'Select a tensor to see its delta histogram.'): void {
    this.facts.replaceChildren();
    if (tensor === null) {
      this.title.textContent = emptyText;
      this.canvasBox.hidden = true;
      this.element.dataset.tensor = '';
      return;
    }
    this.element.dataset.tensor = tensor.name;
    this.title.replaceChildren('Delta histogram of ', fileText(tensor.name));
    const facts: Array<[string, string]> = [
      ['elements', tensor.elements === undefined ? '—' : formatCount(tensor.elements)],
      ['mean Δ', formatStatistic(tensor.meanDelta)],
      ['std Δ', formatStatistic(tensor.stdDelta)],
      ['max |Δ|', formatStatistic(tensor.maxAbsDelta)],
      ['non-finite', tensor.nonFinite === undefined ? '—' : formatCount(tensor.nonFinite)],
    ];
    for (const [term, value] of facts) this.facts.append(h('dt', {}, term), h('dd', {}, value));
    const histogram = tensor.histogram;
    if (histogram === undefined || histogram.counts.length === 0) {
      this.canvasBox.hidden = true;
      this.facts.append(h('dt', {}, 'histogram'), h('dd', {}, `none (${tensor.status})`));
      return;
    }
    if (!(histogram.max > histogram.min)) {
      // Every delta is the same value (an unchanged tensor): one number says it better than one bar.
      this.canvasBox.hidden = true;
      this.facts.append(h('dt', {}, 'histogram'), h('dd', {}, `every Δ is ${formatStatistic(histogram.min)}`));
      return;
    }
    this.canvasBox.hidden = false;
    this.range = { min: histogram.min, max: histogram.max };
    const data = binCentres(histogram.min, histogram.max, histogram.counts.length).map((x, i) => ({ x, y: histogram.counts[i] ?? 0 }));
    if (this.chart === null) {
      const canvas = h('canvas', { attributes: { role: 'img' } });
      this.canvasBox.replaceChildren(canvas);
      this.chart = new Chart(canvas, {
        type: 'bar',
        data: { datasets: [{ data }] },
        options: {
          maintainAspectRatio: false,
          plugins: {
            legend: { display: false },
            tooltip: {
              callbacks: {
                title: (items) => {
                  const item = items[0];
                  if (item === undefined) return '';
                  const width = (this.range.max - this.range.min) / Math.max(1, data.length);
                  const centre = item.parsed.x ?? 0;
                  return `Δ from ${formatStatistic(centre - width / 2)} to ${formatStatistic(centre + width / 2)}`;
                },
                label: (item) => `${formatCount(item.parsed.y ?? 0)} elements`,
              },
            },
          },
          scales: {
            x: {
              type: 'linear',
              offset: false,
              title: { display: true, text: 'Δ = B − A' },
              // Round values inside the bins' range; chart.js would add the range's own ends.
              afterBuildTicks: (scale) => {
                const ticks = niceTicks(this.range.min, this.range.max, Math.max(2, Math.floor(scale.width / TICK_LABEL_PIXELS)));
                scale.ticks = ticks.map((value) => ({ value }));
                canvas.dataset.ticks = ticks.map(formatAxisValue).join(' ');
              },
              ticks: { maxRotation: 0, callback: (value) => formatAxisValue(Number(value)) },
            },
            y: { title: { display: true, text: 'elements' }, beginAtZero: true },
          },
        },
      });
    } else {
      this.chart.data.datasets[0]!.data = data;
    }
    const x = this.chart.options.scales?.x;
    if (x !== undefined) {
      x.min = histogram.min;
      x.max = histogram.max;
    }
    this.chart.canvas.setAttribute('aria-label',
      `Histogram of the delta B − A: ${formatCount(histogram.counts.length)} bins from ${formatStatistic(histogram.min)} to ${formatStatistic(histogram.max)}`);
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
