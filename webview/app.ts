/**
 * The report view: owns the state, renders the sections, and talks to the host through the typed
 * protocol. Views are small classes or functions in their own files; this file only wires them.
 */
import { formatCount } from '../src/shared/quantities';
import { TENSOR_STATUSES, type LayerCell, type TensorReport } from '../src/shared/report';
import {
  DEFAULT_UI_STATE, WEBVIEW_PROTOCOL_VERSION, isToWebviewMessage,
  type SortKey, type ToWebviewMessage, type WebviewUiState,
} from '../src/shared/webview-protocol';
import { applyChartDefaults } from './charts';
import { renderConfig } from './config-view';
import { tensorsToCsv } from './csv-export';
import { fileText, h, section } from './dom';
import { FrameBatcher } from './frame-batcher';
import { HeatmapView } from './heatmap-view';
import { layerLabel } from './heatmap-model';
import { HistogramView } from './histogram-view';
import { renderMismatches } from './mismatch-view';
import { progressText } from './progress-text';
import { ReportStore } from './report-store';
import { SpectraView } from './spectra-view';
import { renderSummary } from './summary-view';
import { queryTensors } from './table-model';
import { TensorTable } from './tensor-table';
import { readThemeColours, watchTheme } from './theme';
import { renderTokenizer } from './tokenizer-view';
import type { HostApi } from './vscode-api';

const TABS: ReadonlyArray<{ id: WebviewUiState['tab']; title: string }> = [
  { id: 'overview', title: 'Overview' },
  { id: 'tensors', title: 'Tensors' },
  { id: 'tokenizer', title: 'Tokenizer' },
  { id: 'config', title: 'Config' },
];
/** The heatmap redraws at most this often during a live run; the table and counts every frame. */
const LIVE_HEATMAP_INTERVAL_MS = 300;
/** Saving state serialises the whole report, so it waits until updates pause. */
const SAVE_STATE_DELAY_MS = 500;

export class ReportApp {
  private readonly store = new ReportStore();
  private ui: WebviewUiState;
  private rows: TensorReport[] = [];
  private readonly batcher: FrameBatcher<TensorReport>;
  private heatmapDrawnAt = 0;
  private heatmapTimer: ReturnType<typeof setTimeout> | undefined;
  private saveTimer: ReturnType<typeof setTimeout> | undefined;

  private readonly title = h('h1', { className: 'title' });
  private readonly status = h('p', { className: 'status-line', attributes: { role: 'status', 'aria-live': 'polite' } });
  private readonly tabs = document.createElement('vscode-tabs');
  private readonly summaryBox = h('div', { className: 'summary-box' });
  private readonly mismatchBox = h('div', { className: 'mismatch-box' });
  private readonly tokenizerBox = h('div', { className: 'tokenizer-box' });
  private readonly configBox = h('div', { className: 'config-box' });
  private readonly filterField = document.createElement('vscode-textfield');
  private readonly statusSelect = document.createElement('vscode-single-select');
  private readonly cellChip = h('button', { className: 'chip', attributes: { type: 'button', title: 'Show all layers and modules' } });
  private readonly rowCount = h('span', { className: 'row-count muted' });
  private readonly heatmap: HeatmapView;
  private readonly table: TensorTable;
  private readonly histogram: HistogramView;
  private readonly spectra: SpectraView;

  constructor(private readonly root: HTMLElement, private readonly host: HostApi) {
    const saved = host.getState();
    this.ui = saved?.protocol === WEBVIEW_PROTOCOL_VERSION ? { ...DEFAULT_UI_STATE, ...saved.ui } : { ...DEFAULT_UI_STATE };
    const theme = readThemeColours();
    applyChartDefaults(theme);
    this.heatmap = new HeatmapView(theme, (cell) => this.showCell(cell));
    this.histogram = new HistogramView(theme);
    this.spectra = new SpectraView(theme, (name) => this.select(name, true));
    this.table = new TensorTable({
      onSort: (key) => this.sortBy(key),
      onSelect: (tensor) => this.select(tensor.name, false),
    });
    this.batcher = new FrameBatcher((tensors) => this.addLiveTensors(tensors), (callback) => requestAnimationFrame(callback));
    watchTheme(() => {
      const next = readThemeColours();
      applyChartDefaults(next);
      this.heatmap.setTheme(next);
      this.histogram.setTheme(next);
      this.spectra.setTheme(next);
    });
    this.layout();
    if (saved?.protocol === WEBVIEW_PROTOCOL_VERSION && saved.report !== null) {
      this.store.setReport(saved.report);
      this.renderAll();
    } else {
      this.renderEmpty();
    }
    window.addEventListener('message', (event: MessageEvent<unknown>) => {
      if (isToWebviewMessage(event.data)) this.guard(() => this.receive(event.data as ToWebviewMessage));
    });
    window.addEventListener('error', (event) => this.log('error', event.message));
    host.postMessage({ type: 'ready', protocol: WEBVIEW_PROTOCOL_VERSION, restored: this.store.report !== null });
  }

  private guard(action: () => void): void {
    try {
      action();
    } catch (error) {
      this.log('error', error instanceof Error ? `${error.message}\n${error.stack ?? ''}` : String(error));
    }
  }

  private log(level: 'info' | 'warn' | 'error', message: string): void {
    this.host.postMessage({ type: 'log', level, message });
  }

  private receive(message: ToWebviewMessage): void {
    switch (message.type) {
      case 'report':
        this.batcher.clear();
        this.store.setReport(message.report);
        this.setStatus('');
        this.renderAll();
        break;
      case 'begin':
        this.batcher.clear();
        this.store.beginLive(message);
        this.setStatus(`Comparing ${message.tensorsTotal} tensors…`);
        this.renderAll();
        break;
      case 'tensors':
        if (this.store.live) this.batcher.push(message.tensors);
        break;
      case 'progress':
        this.setStatus(progressText(message.progress));
        break;
      case 'failed':
        this.setStatus(message.cancelled ? `Cancelled: ${message.message}` : `Failed: ${message.message}`, 'error');
        break;
      case 'selectTensor':
        this.select(message.name, true);
        break;
      case 'actionResult':
        this.setStatus(message.message, message.ok ? 'info' : 'error');
        break;
    }
  }

  private setStatus(text: string, kind: 'info' | 'error' = 'info'): void {
    this.status.replaceChildren(fileText(text));
    this.status.dataset.kind = kind;
  }

  private layout(): void {
    const actions = h('div', { className: 'actions' },
      this.actionButton('Apply this residual…', () => this.host.postMessage({ type: 'applyResidual' }), 'apply'),
      this.actionButton('Write model card', () => this.host.postMessage({ type: 'writeModelCard' }), 'card', true),
      this.actionButton('Export JSON', () => this.exportJson(), 'export-json', true),
      this.actionButton('Export CSV', () => this.exportCsv(), 'export-csv', true));

    for (const tab of TABS) {
      const header = document.createElement('vscode-tab-header');
      header.slot = 'header';
      // vscode-tabs assigns its own ids to headers and panels, so ours go in data attributes.
      header.dataset.tab = tab.id;
      header.textContent = tab.title;
      this.tabs.appendChild(header);
    }
    const panels: Record<WebviewUiState['tab'], HTMLElement> = {
      overview: h('div', { className: 'panel-body' },
        section('Summary', this.summaryBox),
        section('Layer × module heatmap', this.heatmap.element),
        this.spectra.element,
        section('Shape and dtype mismatches', this.mismatchBox)),
      tensors: h('div', { className: 'panel-body' }, this.tensorControls(), this.table.element, this.histogram.element),
      tokenizer: h('div', { className: 'panel-body' }, this.tokenizerBox),
      config: h('div', { className: 'panel-body' }, this.configBox),
    };
    for (const tab of TABS) {
      const panel = document.createElement('vscode-tab-panel');
      panel.dataset.tab = tab.id;
      panel.appendChild(panels[tab.id]);
      this.tabs.appendChild(panel);
    }
    this.tabs.selectedIndex = Math.max(0, TABS.findIndex((tab) => tab.id === this.ui.tab));
    this.tabs.addEventListener('vsc-tabs-select', (event) => {
      const tab = TABS[event.detail.selectedIndex];
      if (tab !== undefined) this.updateUi({ tab: tab.id });
    });
    this.root.replaceChildren(h('header', { className: 'report-header' }, this.title, actions), this.status, this.tabs);
  }

  private actionButton(label: string, onClick: () => void, id: string, secondary = false): HTMLElement {
    const button = document.createElement('vscode-button');
    button.id = `action-${id}`;
    button.textContent = label;
    button.secondary = secondary;
    button.addEventListener('click', () => this.guard(onClick));
    return button;
  }

  private tensorControls(): HTMLElement {
    this.filterField.placeholder = 'Filter by name (space-separated terms)';
    this.filterField.value = this.ui.filter;
    this.filterField.id = 'tensor-filter';
    this.filterField.addEventListener('input', () => this.updateUi({ filter: this.filterField.value }, true));
    const all = document.createElement('vscode-option');
    all.value = '';
    all.textContent = 'All statuses';
    this.statusSelect.appendChild(all);
    for (const status of TENSOR_STATUSES) {
      const option = document.createElement('vscode-option');
      option.value = status;
      option.textContent = status;
      this.statusSelect.appendChild(option);
    }
    this.statusSelect.id = 'status-filter';
    this.statusSelect.value = this.ui.statuses[0] ?? '';
    this.statusSelect.addEventListener('change', () => {
      const value = this.statusSelect.value;
      this.updateUi({ statuses: value === '' ? [] : [value] }, true);
    });
    this.cellChip.addEventListener('click', () => this.updateUi({ cell: null }, true));
    return h('div', { className: 'table-controls' }, this.filterField, this.statusSelect, this.cellChip, this.rowCount);
  }

  private updateUi(change: Partial<WebviewUiState>, requery = false): void {
    this.ui = { ...this.ui, ...change };
    if (requery) this.refreshTable();
    this.scheduleSave();
  }

  private scheduleSave(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => {
      this.host.setState({ protocol: WEBVIEW_PROTOCOL_VERSION, report: this.store.report, ui: this.ui });
    }, SAVE_STATE_DELAY_MS);
  }

  private sortBy(key: SortKey): void {
    const descending = this.ui.sort.key === key ? !this.ui.sort.descending : key !== 'name' && key !== 'status' && key !== 'dtype';
    this.updateUi({ sort: { key, descending } }, true);
  }

  private select(name: string, reveal: boolean): void {
    const tensor = this.store.tensor(name);
    if (tensor === undefined) return;
    if (reveal) {
      // Revealing from elsewhere: make sure the row passes the filter, then show the table.
      if (!this.rows.includes(tensor)) this.updateUi({ filter: '', statuses: [], cell: null }, true);
      this.filterField.value = this.ui.filter;
      this.statusSelect.value = '';
      this.showTab('tensors');
    }
    this.updateUi({ selected: name });
    this.table.setSelected(name, reveal);
    this.histogram.show(tensor);
  }

  private showCell(cell: LayerCell): void {
    this.updateUi({ cell: { layer: cell.layer, module: cell.module } }, true);
    this.showTab('tensors');
  }

  private showTab(tab: WebviewUiState['tab']): void {
    this.tabs.selectedIndex = TABS.findIndex((entry) => entry.id === tab);
    this.updateUi({ tab });
  }

  private renderEmpty(): void {
    this.title.textContent = 'Checkpoint diff';
    this.setStatus('Waiting for the report…');
  }

  private renderAll(): void {
    const report = this.store.report;
    if (report === null) return;
    this.title.replaceChildren(fileText(report.a.hubId ?? report.a.path), ' → ',
      report.b === undefined ? (report.residualOnly ? '(residual)' : '—') : fileText(report.b.hubId ?? report.b.path));
    this.renderOverview();
    this.drawHeatmap();
    this.tokenizerBox.replaceChildren(renderTokenizer(report.tokenizer));
    this.configBox.replaceChildren(renderConfig(report.config));
    this.refreshTable();
    const selected = this.ui.selected === null ? undefined : this.store.tensor(this.ui.selected);
    this.table.setSelected(selected?.name ?? null, true);
    this.histogram.show(selected ?? null);
    this.scheduleSave();
  }

  private renderOverview(): void {
    const report = this.store.report;
    if (report === null) return;
    this.summaryBox.replaceChildren(renderSummary(report, (status) => {
      this.statusSelect.value = status;
      this.updateUi({ statuses: [status], cell: null }, true);
      this.showTab('tensors');
    }));
    this.mismatchBox.replaceChildren(renderMismatches(report.tensors, (tensor) => this.select(tensor.name, true)));
  }

  private drawHeatmap(): void {
    clearTimeout(this.heatmapTimer);
    this.heatmapTimer = undefined;
    this.heatmapDrawnAt = performance.now();
    this.heatmap.update(this.store.report?.layers ?? []);
    // Spectra arrive after the delta pass (the same tensors again), so they redraw on the heatmap's timer.
    this.spectra.update(this.store.report);
  }

  private addLiveTensors(tensors: TensorReport[]): void {
    this.guard(() => {
      this.store.addTensors(tensors);
      const report = this.store.report;
      if (report === null) return;
      this.setStatus(`Compared ${report.tensors.length} of ${this.store.tensorsTotal} tensors…`);
      this.renderOverview();
      this.refreshTable();
      const wait = LIVE_HEATMAP_INTERVAL_MS - (performance.now() - this.heatmapDrawnAt);
      if (wait <= 0) this.drawHeatmap();
      else this.heatmapTimer ??= setTimeout(() => this.drawHeatmap(), wait);
      this.scheduleSave();
    });
  }

  private refreshTable(): void {
    const tensors = this.store.report?.tensors ?? [];
    this.rows = queryTensors(tensors, this.ui);
    this.table.setRows(this.rows, this.ui.sort);
    const cell = this.ui.cell;
    this.cellChip.hidden = cell === null;
    if (cell !== null) this.cellChip.replaceChildren(`layer ${layerLabel(cell.layer)} · `, fileText(cell.module), ' ✕');
    this.rowCount.textContent = `${formatCount(this.rows.length)} of ${formatCount(tensors.length)} tensors`;
  }

  private exportJson(): void {
    const report = this.store.report;
    if (report === null) return;
    this.host.postMessage({ type: 'export', format: 'json', suggestedName: 'diff-report.json', content: `${JSON.stringify(report, null, 2)}\n` });
  }

  private exportCsv(): void {
    if (this.store.report === null) return;
    this.host.postMessage({ type: 'export', format: 'csv', suggestedName: 'diff-tensors.csv', content: tensorsToCsv(this.rows) });
  }
}
