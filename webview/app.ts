/**
 * The report view: owns the state, renders the sections, and talks to the host through the typed
 * protocol. Views are small classes or functions in their own files; this file only wires them.
 */
import { formatCount } from '../src/shared/quantities';
import { TENSOR_STATUSES, type LayerCell, type TensorReport } from '../src/shared/report';
import {
  DEFAULT_UI_STATE, WEBVIEW_PROTOCOL_VERSION, isToWebviewMessage,
  type FailedMessage, type SortKey, type ToWebviewMessage, type WebviewUiState,
} from '../src/shared/webview-protocol';
import { applyChartDefaults } from './charts';
import { renderConfig } from './config-view';
import { tensorsToCsv } from './csv-export';
import { fileText, h, section } from './dom';
import { EnergyView } from './energy-view';
import { describeFailure, type Completeness } from './failure-model';
import { FrameBatcher } from './frame-batcher';
import { HeatmapView } from './heatmap-view';
import { layerLabel } from './heatmap-model';
import { HistogramView } from './histogram-view';
import { renderMismatches } from './mismatch-view';
import { progressText } from './progress-text';
import { ReportStore } from './report-store';
import { SpectraView } from './spectra-view';
import { renderSummary } from './summary-view';
import { describeFilter, exportScope, histogramTensor, queryTensors } from './table-model';
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
  /** What the host said the report is of (`source`); null until it says, when a residual-only report counts as one. */
  private residual: boolean | null = null;
  /** The run failed or was cancelled: the view shows why instead of claiming what it has is the report. */
  private failure: FailedMessage | null = null;
  /** Which rows the last CSV export held, in words, for the host's answer. */
  private pendingExportRows: string | null = null;

  private readonly title = h('h1', { className: 'title' });
  private readonly status = h('p', { className: 'status-line', attributes: { role: 'status', 'aria-live': 'polite' } });
  private readonly failureBox = h('div', { className: 'failure', attributes: { role: 'alert' } });
  private readonly applyButton = this.actionButton('Apply this residual…', () => this.host.postMessage({ type: 'applyResidual' }), 'apply');
  private readonly loraButton = this.actionButton('Export as LoRA Adapter…', () => this.host.postMessage({ type: 'exportLora' }), 'export-lora', true);
  private readonly cardButton = this.actionButton('Write model card', () => this.host.postMessage({ type: 'writeModelCard' }), 'card', true);
  private readonly exportJsonButton = this.actionButton('Export JSON', () => this.exportJson(), 'export-json', true);
  private readonly exportCsvButton = this.actionButton('Export CSV', () => this.exportCsv(), 'export-csv', true);
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
  private readonly energy: EnergyView;

  constructor(private readonly root: HTMLElement, private readonly host: HostApi) {
    const saved = host.getState();
    this.ui = saved?.protocol === WEBVIEW_PROTOCOL_VERSION ? { ...DEFAULT_UI_STATE, ...saved.ui } : { ...DEFAULT_UI_STATE };
    const theme = readThemeColours();
    applyChartDefaults(theme);
    this.heatmap = new HeatmapView(theme, (cell) => this.showCell(cell));
    this.histogram = new HistogramView(theme);
    this.spectra = new SpectraView(theme, (name) => this.select(name, true));
    this.energy = new EnergyView(theme, (rank) => this.host.postMessage({ type: 'exportLora', rank }));
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
      this.energy.setTheme(next);
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
        this.failure = null;
        this.store.setReport(message.report);
        this.setStatus('');
        this.renderAll();
        break;
      case 'begin':
        this.batcher.clear();
        this.failure = null;
        this.store.beginLive(message);
        this.setStatus(`Comparing ${formatCount(message.tensorsTotal)} tensors…`);
        this.renderAll();
        break;
      case 'tensors':
        if (this.store.live) this.batcher.push(message.tensors);
        break;
      case 'progress':
        this.setStatus(progressText(message.progress));
        break;
      case 'failed':
        // Tensors still queued for a frame were received before the failure: they count among those compared.
        this.batcher.drainNow();
        this.failure = message;
        this.setStatus('');
        this.renderFailure();
        this.renderOverview();
        this.updateActions();
        break;
      case 'source':
        this.residual = message.residual;
        this.updateActions();
        break;
      case 'selectTensor':
        this.select(message.name, true);
        break;
      case 'actionResult': {
        // An export says which rows it wrote: all of them, or the ones a filter (set on any tab) left.
        const rows = message.action === 'export' && message.ok ? this.pendingExportRows : null;
        if (message.action === 'export') this.pendingExportRows = null;
        this.setStatus(rows === null ? message.message : `${message.message.replace(/\.$/u, '')}: ${rows}.`, message.ok ? 'info' : 'error');
        // A retry that failed again: the failure stays, with its Retry ready for the next attempt.
        if (message.action === 'retry' && !message.ok) this.renderFailure();
        break;
      }
    }
  }

  private setStatus(text: string, kind: 'info' | 'error' = 'info'): void {
    this.status.replaceChildren(fileText(text));
    this.status.dataset.kind = kind;
  }

  private layout(): void {
    const actions = h('div', { className: 'actions' }, this.applyButton, this.loraButton, this.cardButton, this.exportJsonButton, this.exportCsvButton);
    this.failureBox.hidden = true;

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
        this.energy.element,
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
    this.root.replaceChildren(h('header', { className: 'report-header' }, this.title, actions), this.status, this.failureBox, this.tabs);
    this.updateActions();
  }

  /**
   * Apply and the model card only where they apply (a residual, a compute's result); exports only
   * of a finished report, CSV labelled with the rows it would write.
   */
  private updateActions(): void {
    const report = this.store.report;
    const finished = report !== null && !this.store.live && this.failure === null;
    const residual = finished && (this.residual ?? report.residualOnly === true);
    this.applyButton.hidden = !residual;
    this.loraButton.hidden = !residual;
    // A LoRA adapter is made of a residual, or of two checkpoints (base = A, instruct = B).
    this.energy.setExportable(finished && (residual || report.b !== undefined));
    this.cardButton.hidden = !residual;
    this.exportJsonButton.hidden = this.failure !== null;
    this.exportCsvButton.hidden = this.failure !== null;
    this.exportJsonButton.disabled = !finished;
    this.exportCsvButton.disabled = !finished;
    const scope = exportScope(this.rows.length, report?.tensors.length ?? 0, describeFilter(this.ui));
    if (this.exportCsvButton.textContent !== scope.label) this.exportCsvButton.textContent = scope.label;
    this.exportCsvButton.title = `Writes ${scope.rows} as CSV`;
  }

  private completeness(): Completeness {
    return {
      compared: this.store.report?.tensors.length ?? 0,
      total: this.store.tensorsTotal,
      state: this.failure !== null ? 'stopped' : this.store.live ? 'running' : 'complete',
    };
  }

  /** The failure in place of the report: title, rule, message, how far the run got, and "Run again". */
  private renderFailure(): void {
    const failure = this.failure;
    this.failureBox.hidden = failure === null;
    const { compared, total } = this.completeness();
    // With nothing compared, the tabs would show only empty states: the failure stands alone.
    this.tabs.hidden = failure !== null && compared === 0;
    if (failure === null) {
      this.failureBox.replaceChildren();
      return;
    }
    // A failure beside a finished report (not a live run) is a job its dry run refused.
    const view = describeFailure(failure, compared, total, this.store.report !== null && !this.store.live);
    const retry = this.actionButton(view.cancelled ? 'Run again' : 'Retry', () => {
      retry.disabled = true;
      this.setStatus('Running it again…');
      this.host.postMessage({ type: 'retry' });
    }, 'retry');
    const facts = h('dl', { className: 'facts' });
    if (view.rule !== null) facts.append(h('dt', {}, 'Rule'), h('dd', {}, h('code', { className: 'rule' }, fileText(view.rule))));
    facts.append(h('dt', {}, view.cancelled ? 'Note' : 'Message'), h('dd', { className: 'failure-message' }, fileText(view.message)));
    this.failureBox.dataset.kind = view.cancelled ? 'cancelled' : 'failed';
    this.failureBox.replaceChildren(h('h2', {}, view.title), facts, h('p', { className: 'failure-progress' }, view.progress),
      h('div', { className: 'actions' }, retry));
  }

  private actionButton(label: string, onClick: () => void, id: string, secondary = false): HTMLElementTagNameMap['vscode-button'] {
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

  /** A heatmap cell narrows the table to its tensors; the histogram follows (refreshTable). */
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
    this.renderFailure();
    this.renderOverview();
    this.drawHeatmap();
    this.tokenizerBox.replaceChildren(renderTokenizer(report.tokenizer));
    this.configBox.replaceChildren(renderConfig(report.config));
    this.refreshTable();
    this.table.setSelected(this.ui.selected, true);
    this.updateActions();
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
    this.mismatchBox.replaceChildren(renderMismatches(report.tensors, (tensor) => this.select(tensor.name, true), this.completeness()));
  }

  private drawHeatmap(): void {
    clearTimeout(this.heatmapTimer);
    this.heatmapTimer = undefined;
    this.heatmapDrawnAt = performance.now();
    this.heatmap.update(this.store.report?.layers ?? []);
    // Spectra arrive after the delta pass (the same tensors again), so they redraw on the heatmap's timer.
    this.spectra.update(this.store.report);
    this.energy.update(this.store.report);
  }

  private addLiveTensors(tensors: TensorReport[]): void {
    this.guard(() => {
      this.store.addTensors(tensors);
      const report = this.store.report;
      if (report === null) return;
      if (this.failure === null) this.setStatus(`Compared ${formatCount(report.tensors.length)} of ${formatCount(this.store.tensorsTotal)} tensors…`);
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
    this.table.setRows(this.rows, this.ui.sort, tensors);
    const cell = this.ui.cell;
    this.cellChip.hidden = cell === null;
    if (cell !== null) this.cellChip.replaceChildren(`layer ${layerLabel(cell.layer)} · `, fileText(cell.module), ' ✕');
    this.rowCount.textContent = `${formatCount(this.rows.length)} of ${formatCount(tensors.length)} tensors`;
    // The histogram shows a row of the table as filtered: the selected one while it passes, else the first.
    const shown = histogramTensor(this.rows, this.ui.selected);
    if ((shown?.name ?? null) !== this.ui.selected) {
      this.updateUi({ selected: shown?.name ?? null });
      this.table.setSelected(this.ui.selected, true);
    }
    this.histogram.show(shown, tensors.length === 0 ? 'No tensors yet.' : 'No tensor passes the filter.');
    this.updateActions();
  }

  private exportJson(): void {
    const report = this.store.report;
    if (report === null) return;
    this.host.postMessage({ type: 'export', format: 'json', suggestedName: 'diff-report.json', content: `${JSON.stringify(report, null, 2)}\n` });
  }

  /** Writes the rows the table shows, in its order; the button's label and the notice after say which. */
  private exportCsv(): void {
    const report = this.store.report;
    if (report === null) return;
    const scope = exportScope(this.rows.length, report.tensors.length, describeFilter(this.ui));
    this.pendingExportRows = scope.rows;
    this.host.postMessage({ type: 'export', format: 'csv', suggestedName: scope.suggestedName, content: tensorsToCsv(this.rows), rows: scope.rows });
  }
}
