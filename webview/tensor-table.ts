/**
 * The tensor table, virtualised: only the rows in view (plus a margin) exist in the DOM, reused
 * as the user scrolls, so 5,000 or 50,000 tensors cost the same to draw. Rows have a fixed height.
 */
import { formatShape } from '../src/shared/quantities';
import type { TensorReport } from '../src/shared/report';
import type { SortKey } from '../src/shared/webview-protocol';
import { fillFileText, h } from './dom';
import { columnFormats, type NumericKey } from './table-model';

/** Must match `--row-height` in media/report.css. */
const ROW_HEIGHT_PIXELS = 24;
/** Rows drawn above and below the viewport, so fast scrolling does not show blank space. */
const OVERSCAN_ROWS = 12;

type Formats = ReturnType<typeof columnFormats>;

interface Column {
  key: SortKey | null;
  title: string;
  numeric: boolean;
  cell(tensor: TensorReport, target: HTMLElement, formats: Formats): void;
}

function textCell(text: string, target: HTMLElement): void {
  if (target.textContent !== text) target.textContent = text;
}

/** A numeric column: one format for the whole column (columnFormats), wide enough for its longest value (media/report.css). */
function numericColumn(key: NumericKey, title: string): Column {
  return { key, title, numeric: true, cell: (t, el, formats) => textCell(formats[key](t[key]), el) };
}

const COLUMNS: readonly Column[] = [
  { key: 'name', title: 'Name', numeric: false, cell: (t, el) => { fillFileText(el, t.name); el.title = t.name; } },
  { key: null, title: 'Shape A', numeric: false, cell: (t, el) => textCell(formatShape(t.a?.shape), el) },
  { key: null, title: 'Shape B', numeric: false, cell: (t, el) => textCell(formatShape(t.b?.shape), el) },
  {
    key: 'dtype', title: 'Dtype A → B', numeric: false,
    cell: (t, el) => fillFileText(el, t.a?.dtype === t.b?.dtype ? t.a?.dtype ?? '—' : `${t.a?.dtype ?? '—'} → ${t.b?.dtype ?? '—'}`),
  },
  {
    key: 'status', title: 'Status', numeric: false,
    cell: (t, el) => { textCell(t.status, el); el.dataset.status = t.status; },
  },
  numericColumn('deltaNorm', '‖Δ‖'),
  numericColumn('relativeNorm', '‖Δ‖/‖A‖'),
  numericColumn('cosine', 'cos(A, B)'),
  numericColumn('maxAbsDelta', 'max |Δ|'),
  numericColumn('zeroFraction', 'Δ = 0'),
];

interface RowElement {
  row: HTMLDivElement;
  cells: HTMLDivElement[];
  tensor: TensorReport | null;
}

export interface TensorTableEvents {
  onSort(key: SortKey): void;
  onSelect(tensor: TensorReport): void;
}

export class TensorTable {
  readonly element: HTMLDivElement;
  private readonly scroller: HTMLDivElement;
  private readonly body: HTMLDivElement;
  private readonly headerButtons = new Map<SortKey, HTMLButtonElement>();
  private readonly pool: RowElement[] = [];
  private rows: readonly TensorReport[] = [];
  private selected: string | null = null;
  private frameRequested = false;
  private formats: Formats = columnFormats([]);

  constructor(private readonly events: TensorTableEvents) {
    const header = h('div', { className: 'table-header', attributes: { role: 'row' } });
    for (const column of COLUMNS) {
      const cell = h('div', { className: column.numeric ? 'cell numeric' : 'cell', attributes: { role: 'columnheader' } });
      if (column.key === null) {
        cell.textContent = column.title;
      } else {
        const key = column.key;
        const button = h('button', { className: 'sort', attributes: { type: 'button', 'data-key': key } }, column.title);
        button.addEventListener('click', () => this.events.onSort(key));
        this.headerButtons.set(key, button);
        cell.appendChild(button);
      }
      header.appendChild(cell);
    }
    this.body = h('div', { className: 'table-body', attributes: { role: 'rowgroup' } });
    this.scroller = h('div', {
      className: 'table-scroll',
      attributes: { role: 'grid', tabindex: '0', 'aria-label': 'Tensors', 'aria-colcount': String(COLUMNS.length) },
    }, header, this.body);
    this.scroller.addEventListener('scroll', () => this.requestDraw(), { passive: true });
    this.scroller.addEventListener('keydown', (event) => this.onKey(event));
    this.body.addEventListener('click', (event) => {
      const row = (event.target as Element | null)?.closest('.table-row');
      const index = row === null || row === undefined ? NaN : Number((row as HTMLElement).dataset.index);
      const tensor = this.rows[index];
      if (tensor !== undefined) this.events.onSelect(tensor);
    });
    new ResizeObserver(() => this.requestDraw()).observe(this.scroller);
    this.element = this.scroller;
  }

  /**
   * `all` is every tensor of the report, whatever the filter: a column's number format follows all
   * of its values, so it does not change as the filter does.
   */
  setRows(rows: readonly TensorReport[], sort: { key: SortKey; descending: boolean }, all: readonly TensorReport[] = rows): void {
    this.rows = rows;
    this.formats = columnFormats(all);
    // Cells are refilled only for a row that shows another tensor; new formats refill them all.
    for (const row of this.pool) row.tensor = null;
    this.scroller.setAttribute('aria-rowcount', String(rows.length + 1));
    this.body.style.height = `${rows.length * ROW_HEIGHT_PIXELS}px`;
    for (const [key, button] of this.headerButtons) {
      const active = key === sort.key;
      button.dataset.sorted = active ? (sort.descending ? 'descending' : 'ascending') : '';
      button.parentElement?.setAttribute('aria-sort', active ? (sort.descending ? 'descending' : 'ascending') : 'none');
    }
    this.draw();
  }

  setSelected(name: string | null, scrollIntoView: boolean): void {
    this.selected = name;
    if (scrollIntoView && name !== null) {
      const index = this.rows.findIndex((tensor) => tensor.name === name);
      if (index >= 0) this.scrollToIndex(index);
    }
    this.draw();
  }

  private scrollToIndex(index: number): void {
    const top = index * ROW_HEIGHT_PIXELS;
    const headerHeight = ROW_HEIGHT_PIXELS;
    const viewTop = this.scroller.scrollTop;
    const viewHeight = this.scroller.clientHeight - headerHeight;
    if (top < viewTop) this.scroller.scrollTop = top;
    else if (top + ROW_HEIGHT_PIXELS > viewTop + viewHeight) this.scroller.scrollTop = top + ROW_HEIGHT_PIXELS - viewHeight;
  }

  private requestDraw(): void {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      this.draw();
    });
  }

  private draw(): void {
    const viewHeight = Math.max(this.scroller.clientHeight, ROW_HEIGHT_PIXELS * 10);
    const first = Math.max(0, Math.floor(this.scroller.scrollTop / ROW_HEIGHT_PIXELS) - OVERSCAN_ROWS);
    const last = Math.min(this.rows.length, Math.ceil((this.scroller.scrollTop + viewHeight) / ROW_HEIGHT_PIXELS) + OVERSCAN_ROWS);
    const needed = last - first;
    while (this.pool.length < needed) this.pool.push(this.createRow());
    for (let slot = 0; slot < this.pool.length; slot += 1) {
      const row = this.pool[slot]!;
      const index = first + slot;
      const tensor = slot < needed ? this.rows[index] : undefined;
      if (tensor === undefined) {
        row.row.hidden = true;
        row.tensor = null;
        continue;
      }
      row.row.hidden = false;
      row.row.dataset.index = String(index);
      row.row.style.transform = `translateY(${index * ROW_HEIGHT_PIXELS}px)`;
      row.row.setAttribute('aria-rowindex', String(index + 2));
      const isSelected = tensor.name === this.selected;
      row.row.classList.toggle('selected', isSelected);
      row.row.setAttribute('aria-selected', String(isSelected));
      if (row.tensor !== tensor) {
        row.tensor = tensor;
        COLUMNS.forEach((column, i) => column.cell(tensor, row.cells[i]!, this.formats));
      }
    }
  }

  private createRow(): RowElement {
    const cells = COLUMNS.map((column) => h('div', { className: column.numeric ? 'cell numeric' : 'cell', attributes: { role: 'gridcell' } }));
    const row = h('div', { className: 'table-row', attributes: { role: 'row' } }, ...cells);
    this.body.appendChild(row);
    return { row, cells, tensor: null };
  }

  private onKey(event: KeyboardEvent): void {
    const steps: Record<string, number> = {
      ArrowDown: 1, ArrowUp: -1, PageDown: 20, PageUp: -20, Home: -Infinity, End: Infinity,
    };
    const step = steps[event.key];
    if (step === undefined || this.rows.length === 0) return;
    event.preventDefault();
    const current = this.rows.findIndex((tensor) => tensor.name === this.selected);
    const target = current < 0 ? 0 : Math.min(this.rows.length - 1, Math.max(0, current + step));
    const tensor = this.rows[target];
    if (tensor === undefined) return;
    this.scrollToIndex(target);
    this.events.onSelect(tensor);
  }
}
