/** The layer x module heatmap of relative delta norms (chart.js matrix). */
import { formatStatistic } from '../src/shared/quantities';
import type { LayerCell } from '../src/shared/report';
import { Chart } from './charts';
import { mixColours, toCss } from './colour';
import { h } from './dom';
import { buildHeatmapGrid, type HeatmapGrid, type HeatmapPoint } from './heatmap-model';
import type { ThemeColours } from './theme';
import { visibleText } from './visible-text';

const ROW_PIXELS = 14;
const MIN_HEIGHT_PIXELS = 160;
// The faintest cell still differs from the background, so "small change" is not read as "no data".
const MIN_COLOUR_WEIGHT = 0.12;

export class HeatmapView {
  readonly element: HTMLElement;
  private readonly canvasBox: HTMLDivElement;
  private readonly legend: HTMLParagraphElement;
  private readonly empty: HTMLParagraphElement;
  private chart: Chart<'matrix'> | null = null;
  private grid: HeatmapGrid = { modules: [], rows: [], points: [], min: null, max: null };

  constructor(private theme: ThemeColours, private readonly onCell: (cell: LayerCell) => void) {
    this.canvasBox = h('div', { className: 'heatmap-box' });
    this.legend = h('p', { className: 'legend' });
    this.empty = h('p', { className: 'empty' }, 'No comparable tensors yet.');
    this.element = h('div', { className: 'heatmap' }, this.canvasBox, this.legend, this.empty);
  }

  update(cells: readonly LayerCell[]): void {
    this.grid = buildHeatmapGrid(cells);
    const { grid } = this;
    this.empty.hidden = grid.points.length > 0;
    this.canvasBox.hidden = grid.points.length === 0;
    this.legend.textContent = grid.min === null || grid.max === null ? ''
      : `Relative delta norm ‖B − A‖ / ‖A‖ per layer and module, log colour scale from ${formatStatistic(grid.min)} to ${formatStatistic(grid.max)}. Click a cell to list its tensors.`;
    this.canvasBox.style.height = `${Math.max(MIN_HEIGHT_PIXELS, grid.rows.length * ROW_PIXELS + 90)}px`;
    if (grid.points.length === 0) return;
    if (this.chart === null) {
      this.create();
    } else {
      this.configure(this.chart);
      this.chart.update();
    }
  }

  setTheme(theme: ThemeColours): void {
    this.theme = theme;
    if (this.chart !== null) {
      this.configure(this.chart);
      this.chart.update();
    }
  }

  private create(): void {
    const canvas = h('canvas', { attributes: { role: 'img', 'aria-label': 'Heatmap of relative delta norms by layer and module' } });
    this.canvasBox.replaceChildren(canvas);
    this.chart = new Chart(canvas, {
      type: 'matrix',
      data: { datasets: [{ data: [] }] },
      options: {
        maintainAspectRatio: false,
        onClick: (_event, elements) => {
          const index = elements[0]?.index;
          const point = index === undefined ? undefined : this.grid.points[index];
          if (point !== undefined) this.onCell(point.cell);
        },
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

  private configure(chart: Chart<'matrix'>): void {
    const { grid, theme } = this;
    const colourOf = (point: HeatmapPoint | undefined): string => {
      if (point?.t === null || point?.t === undefined) return 'rgba(0, 0, 0, 0)';
      return toCss(mixColours(theme.background, theme.accent, MIN_COLOUR_WEIGHT + (1 - MIN_COLOUR_WEIGHT) * point.t));
    };
    const border = theme.contrastBorder === null ? toCss(theme.grid) : toCss(theme.contrastBorder);
    const columns = Math.max(1, grid.modules.length);
    const rows = Math.max(1, grid.rows.length);
    chart.data.datasets = [{
      // Axis labels are the visible-text forms of module names, so the points use the same.
      data: grid.points.map((point) => ({ x: visibleText(point.x), y: point.y, v: point.v ?? 0 })),
      backgroundColor: (context) => colourOf(grid.points[context.dataIndex]),
      borderColor: border,
      borderWidth: theme.highContrast ? 1 : 0.5,
      width: ({ chart: c }) => Math.max(1, (c.chartArea?.width ?? 0) / columns - 1),
      height: ({ chart: c }) => Math.max(1, (c.chartArea?.height ?? 0) / rows - 1),
    }];
    chart.options.scales = {
      x: {
        type: 'category', labels: grid.modules.map(visibleText), offset: true, position: 'top',
        grid: { display: false }, ticks: { maxRotation: 60, autoSkip: false },
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
