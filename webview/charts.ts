/** Chart.js with only the parts this view uses (keeps the bundle small), registered once. */
import {
  BarController, BarElement, CategoryScale, Chart, LinearScale, LogarithmicScale, Tooltip,
} from 'chart.js';
import { MatrixController, MatrixElement } from 'chartjs-chart-matrix';
import { toCss } from './colour';
import type { ThemeColours } from './theme';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LogarithmicScale, Tooltip, MatrixController, MatrixElement);

export { Chart };

export function applyChartDefaults(theme: ThemeColours): void {
  Chart.defaults.color = toCss(theme.foreground);
  Chart.defaults.borderColor = toCss(theme.grid);
  Chart.defaults.font.family = theme.fontFamily;
  Chart.defaults.font.size = theme.fontSize;
  // Reports are redrawn in batches during a live run; animating each batch only costs frames.
  Chart.defaults.animation = false;
}
