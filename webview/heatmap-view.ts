/**
 * The layer x module heatmap of relative delta norms (chart.js matrix), with its colour legend.
 * The cells are reachable from the keyboard: the chart takes focus, the arrow keys (Home/End,
 * PageUp/PageDown) move a focus ring between cells, and Enter or Space lists the cell's tensors as
 * a click does; a live region reads the focused cell out.
 */
import type { Plugin } from 'chart.js';
import { formatAxisValue, formatStatistic } from '../src/shared/quantities';
import type { LayerCell } from '../src/shared/report';
import { Chart } from './charts';
import { mixColours, toCss, type Rgba } from './colour';
import { h } from './dom';
import { buildHeatmapGrid, firstPoint, legendTicks, moveFocus, type HeatmapGrid, type HeatmapPoint } from './heatmap-model';
import type { ThemeColours } from './theme';
import { visibleText } from './visible-text';

const ROW_PIXELS = 14;
const MIN_HEIGHT_PIXELS = 160;
// The faintest cell still differs from the background, so "small change" is not read as "no data".
const MIN_COLOUR_WEIGHT = 0.12;
/** Stops of the legend's gradient: enough that the CSS gradient matches the cells' linear mix. */
const LEGEND_STOPS = 8;
/** Room a column label needs beside its neighbours, in pixels. */
const LABEL_GAP_PIXELS = 8;
/** Width of the layer axis (labels and title) before the first column, for the label-fit estimate. */
const Y_AXIS_PIXELS = 64;
const FOCUS_RING_PIXELS = 2;

/** A cell's rectangle on the canvas (a matrix element's x and y are its top left corner). */
function cellBounds(chart: Chart<'matrix'>, index: number): { x: number; y: number; width: number; height: number } | undefined {
  const element = chart.getDatasetMeta(0).data[index];
  return element?.getProps(['x', 'y', 'width', 'height'], true) as { x: number; y: number; width: number; height: number } | undefined;
}

/**
 * Greedy line breaking after dots and underscores, never inside a word; null when one word alone
 * is wider than `width`.
 */
function wrapLabel(label: string, width: number, measure: (text: string) => number): string[] | null {
  const lines: string[] = [];
  let line = '';
  for (const word of label.split(/(?<=[._])/u)) {
    if (measure(word) > width) return null;
    if (line !== '' && measure(line + word) > width) {
      lines.push(line);
      line = word;
    } else {
      line += word;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

export class HeatmapView {
  readonly element: HTMLElement;
  private readonly canvasBox: HTMLDivElement;
  private readonly legend: HTMLDivElement;
  private readonly hint: HTMLParagraphElement;
  private readonly announcer: HTMLParagraphElement;
  private readonly empty: HTMLParagraphElement;
  private chart: Chart<'matrix'> | null = null;
  private grid: HeatmapGrid = { modules: [], rows: [], points: [], at: [], min: null, max: null };
  /** The point with the keyboard focus, or -1. */
  private focused = -1;
  /** Column labels horizontal (on lines split after dots and underscores) or all upright, whichever fits the columns. */
  private horizontalLabels = true;
  private labelLines: string[][] = [];
  private emptyText = 'No comparable tensors yet.';

  constructor(private theme: ThemeColours, private readonly onCell: (cell: LayerCell) => void) {
    this.canvasBox = h('div', {
      className: 'heatmap-box',
      attributes: {
        tabindex: '0',
        role: 'group',
        'aria-roledescription': 'heatmap',
        'aria-label': 'Relative delta norm by layer and module. Arrow keys move between cells; Enter or Space lists the cell\'s tensors.',
      },
    });
    this.canvasBox.addEventListener('keydown', (event) => this.onKey(event));
    this.canvasBox.addEventListener('focus', () => {
      if (this.focused < 0 || this.focused >= this.grid.points.length) this.focused = firstPoint(this.grid);
      this.showFocus();
    });
    this.canvasBox.addEventListener('blur', () => this.showFocus());
    this.legend = h('div', { className: 'heatmap-legend' });
    this.hint = h('p', { className: 'legend' }, 'Click a cell, or tab to the heatmap and press Enter on a cell, to list its tensors.');
    this.announcer = h('p', { className: 'visually-hidden', attributes: { 'aria-live': 'polite' } });
    this.empty = h('p', { className: 'empty' }, this.emptyText);
    this.element = h('div', { className: 'heatmap' }, this.canvasBox, this.legend, this.hint, this.announcer, this.empty);
  }

  /** What the section says while it has no cells (a failed run says why there are none). */
  setEmptyText(text: string): void {
    this.emptyText = text;
    this.empty.textContent = text;
  }

  update(cells: readonly LayerCell[]): void {
    const focusedCell = this.grid.points[this.focused]?.cell;
    this.grid = buildHeatmapGrid(cells);
    const { grid } = this;
    // The focus stays on the same layer and module as cells arrive.
    this.focused = focusedCell === undefined ? -1
      : grid.points.findIndex((point) => point.cell.layer === focusedCell.layer && point.cell.module === focusedCell.module);
    const hasCells = grid.points.length > 0;
    this.empty.hidden = hasCells;
    this.canvasBox.hidden = !hasCells;
    this.legend.hidden = !hasCells;
    this.hint.hidden = !hasCells;
    this.drawLegend();
    this.canvasBox.style.height = `${Math.max(MIN_HEIGHT_PIXELS, grid.rows.length * ROW_PIXELS + 90)}px`;
    if (!hasCells) return;
    if (this.chart === null) {
      this.create();
    } else {
      this.configure(this.chart);
      this.chart.update();
    }
  }

  setTheme(theme: ThemeColours): void {
    this.theme = theme;
    this.drawLegend();
    if (this.chart !== null) {
      this.configure(this.chart);
      this.chart.update();
    }
  }

  private colourAt(t: number): Rgba {
    return mixColours(this.theme.background, this.theme.accent, MIN_COLOUR_WEIGHT + (1 - MIN_COLOUR_WEIGHT) * t);
  }

  /** Exact zeros (unchanged cells) get a neutral tint of their own, apart from the smallest change. */
  private colourOf(point: HeatmapPoint | undefined): string {
    if (point?.t === null || point?.t === undefined) return 'rgba(0, 0, 0, 0)';
    if (point.v === 0) return toCss(this.theme.grid);
    return toCss(this.colourAt(point.t));
  }

  /** The colour bar with its log scale (the same mix as the cells), and swatches for zero and missing values. */
  private drawLegend(): void {
    const { min, max, points } = this.grid;
    if (min === null || max === null) {
      this.legend.replaceChildren();
      return;
    }
    const bar = h('div', { className: 'colour-bar' });
    const stops = Array.from({ length: LEGEND_STOPS + 1 }, (_, i) => toCss(this.colourAt(max > min ? i / LEGEND_STOPS : 1)));
    bar.style.background = `linear-gradient(to right, ${stops.join(', ')})`;
    const ticks = h('div', { className: 'colour-ticks' });
    const marks = legendTicks(min, max);
    marks.forEach((tick, index) => {
      const end = index === 0 || index === marks.length - 1;
      const label = h('span', { className: `colour-tick${index === 0 ? ' first' : index === marks.length - 1 ? ' last' : ''}` },
        end ? formatStatistic(tick.value) : formatAxisValue(tick.value));
      label.style.left = `${(tick.position * 100).toFixed(2)}%`;
      ticks.appendChild(label);
    });
    const parts: HTMLElement[] = [
      h('span', { className: 'legend-title' }, '‖B − A‖ / ‖A‖ per layer and module (log scale)'),
      h('div', { className: 'colour-scale', attributes: { role: 'img', 'aria-label': `Colour scale from ${formatStatistic(min)} to ${formatStatistic(max)}, logarithmic` } }, bar, ticks),
    ];
    if (points.some((point) => point.v === 0)) {
      const swatch = h('span', { className: 'swatch' });
      swatch.style.background = toCss(this.theme.grid);
      parts.push(h('span', { className: 'legend-item' }, swatch, '0 (unchanged)'));
    }
    if (points.some((point) => point.t === null)) {
      parts.push(h('span', { className: 'legend-item' }, h('span', { className: 'swatch none' }), 'no value (zero base norm)'));
    }
    this.legend.replaceChildren(...parts);
  }

  private describe(point: HeatmapPoint): string {
    const tensors = `${point.cell.tensors} tensor${point.cell.tensors === 1 ? '' : 's'}`;
    return `layer ${point.y}, ${visibleText(point.x)}: relative norm ${formatStatistic(point.v)}, ${tensors}`;
  }

  private onKey(event: KeyboardEvent): void {
    if (this.grid.points.length === 0) return;
    if (event.key === 'Enter' || event.key === ' ') {
      const point = this.grid.points[this.focused];
      if (point === undefined) return;
      event.preventDefault();
      this.onCell(point.cell);
      return;
    }
    const next = moveFocus(this.grid, this.focused, event.key, event.ctrlKey || event.metaKey);
    if (next === undefined || next < 0) return;
    event.preventDefault();
    this.focused = next;
    this.showFocus();
  }

  /** Redraws the focus ring, shows the focused cell's tooltip, and reads the cell out. */
  private showFocus(): void {
    const chart = this.chart;
    const point = this.grid.points[this.focused];
    const focused = document.activeElement === this.canvasBox && point !== undefined;
    this.canvasBox.dataset.focusedCell = focused ? `${point.y}|${point.x}` : '';
    if (focused) this.announcer.textContent = this.describe(point);
    if (chart === null) return;
    const active = focused ? [{ datasetIndex: 0, index: this.focused }] : [];
    const bounds = focused ? cellBounds(chart, this.focused) : undefined;
    chart.setActiveElements(active);
    chart.tooltip?.setActiveElements(active, bounds === undefined ? { x: 0, y: 0 } : { x: bounds.x + bounds.width / 2, y: bounds.y + bounds.height / 2 });
    chart.update();
  }

  private create(): void {
    const canvas = h('canvas', { attributes: { role: 'img', 'aria-label': 'Heatmap of relative delta norms by layer and module' } });
    this.canvasBox.replaceChildren(canvas);
    const focusRing: Plugin<'matrix'> = {
      id: 'focusRing',
      afterDatasetsDraw: (chart) => {
        if (document.activeElement !== this.canvasBox) return;
        const bounds = cellBounds(chart, this.focused);
        if (bounds === undefined) return;
        const { x, y, width, height } = bounds;
        const { ctx } = chart;
        ctx.save();
        ctx.strokeStyle = toCss(this.theme.focus);
        ctx.lineWidth = FOCUS_RING_PIXELS;
        ctx.strokeRect(x - FOCUS_RING_PIXELS / 2, y - FOCUS_RING_PIXELS / 2, width + FOCUS_RING_PIXELS, height + FOCUS_RING_PIXELS);
        ctx.restore();
      },
    };
    this.chart = new Chart(canvas, {
      type: 'matrix',
      data: { datasets: [{ data: [] }] },
      plugins: [focusRing],
      options: {
        maintainAspectRatio: false,
        onClick: (_event, elements) => {
          const index = elements[0]?.index;
          const point = index === undefined ? undefined : this.grid.points[index];
          if (index === undefined || point === undefined) return;
          this.focused = index;
          this.onCell(point.cell);
        },
        onResize: () => requestAnimationFrame(() => {
          // Whether the column labels fit side by side depends on the width.
          if (this.chart !== null && JSON.stringify(this.wrapLabels()) !== JSON.stringify(this.horizontalLabels ? this.labelLines : null)) {
            this.configure(this.chart);
            this.chart.update();
          }
        }),
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: (items) => {
                const point = this.grid.points[items[0]?.dataIndex ?? -1];
                return point === undefined ? '' : `layer ${point.y} · ${visibleText(point.x)}`;
              },
              label: (item) => {
                const point = this.grid.points[item.dataIndex];
                if (point === undefined) return '';
                return [`relative norm ${formatStatistic(point.v)}`, `delta norm ${formatStatistic(point.cell.deltaNorm)}`,
                  `${point.cell.tensors} tensor${point.cell.tensors === 1 ? '' : 's'}`];
              },
            },
          },
        },
      },
    });
    this.configure(this.chart);
    this.chart.update();
  }

  /**
   * The column labels on lines that fit a column (`post_attn_norm` as `post_attn_` / `norm`), or
   * null where a part of one is wider than a column by itself: then every label stands upright.
   */
  private wrapLabels(): string[][] | null {
    const columns = Math.max(1, this.grid.modules.length);
    const width = ((this.chart?.width ?? this.canvasBox.clientWidth) - Y_AXIS_PIXELS) / columns - LABEL_GAP_PIXELS;
    const context = document.createElement('canvas').getContext('2d');
    if (context === null) return null;
    context.font = `${this.theme.fontSize}px ${this.theme.fontFamily}`;
    const wrapped = this.grid.modules.map((module) => wrapLabel(visibleText(module), width, (text) => context.measureText(text).width));
    return wrapped.every((lines) => lines !== null) ? wrapped as string[][] : null;
  }

  private configure(chart: Chart<'matrix'>): void {
    const { grid, theme } = this;
    const border = theme.contrastBorder === null ? toCss(theme.grid) : toCss(theme.contrastBorder);
    const columns = Math.max(1, grid.modules.length);
    const rows = Math.max(1, grid.rows.length);
    const wrapped = this.wrapLabels();
    this.horizontalLabels = wrapped !== null;
    this.labelLines = wrapped ?? [];
    // Axis labels are the visible-text forms of module names, so the points use the same.
    const labels = grid.modules.map(visibleText);
    chart.data.datasets = [{
      data: grid.points.map((point) => ({ x: visibleText(point.x), y: point.y, v: point.v ?? 0 })),
      backgroundColor: (context) => this.colourOf(grid.points[context.dataIndex]),
      borderColor: border,
      borderWidth: theme.highContrast ? 1 : 0.5,
      width: ({ chart: c }) => Math.max(1, (c.chartArea?.width ?? 0) / columns - 1),
      height: ({ chart: c }) => Math.max(1, (c.chartArea?.height ?? 0) / rows - 1),
    }];
    chart.options.scales = {
      x: {
        type: 'category', labels, offset: true, position: 'top',
        grid: { display: false },
        // One rotation for every label: side by side (on lines split at dots) where they fit, else all upright.
        ticks: {
          autoSkip: false,
          minRotation: this.horizontalLabels ? 0 : 90,
          maxRotation: this.horizontalLabels ? 0 : 90,
          callback: (_value, index) => (this.horizontalLabels ? this.labelLines[index] ?? '' : labels[index] ?? ''),
        },
      },
      y: {
        // The matrix chart reverses y by default; not reversed, layer 0 is at the top as a model is read.
        type: 'category', labels: grid.rows, offset: true, reverse: false,
        grid: { display: false }, ticks: { autoSkip: true },
        title: { display: true, text: 'layer' },
      },
    };
  }
}
