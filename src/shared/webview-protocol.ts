/**
 * Messages between the extension host's report panel and the report webview. One union each way;
 * the webview starts with `ready` and the host answers with the report (or a live stream of it).
 * Everything here is plain JSON: it crosses `postMessage` and is kept by `vscode.setState`.
 */
import { MAX_LORA_RANK } from './defaults';
import type { JobProgress } from './jobs';
import type { DiffReport, TensorReport } from './report';

export const WEBVIEW_PROTOCOL_VERSION = 1;

// ---- host -> webview -------------------------------------------------------------------------

/** The whole report: replaces whatever the view shows (also the final message of a live run). */
export interface ShowReportMessage {
  type: 'report';
  report: DiffReport;
}

/** A live run starts: the view clears and waits for `tensors` batches. */
export interface BeginLiveMessage {
  type: 'begin';
  a: DiffReport['a'];
  b?: DiffReport['b'];
  tensorsTotal: number;
}

/** Tensors whose statistics are final, in any batch size; the view renders them in frames. */
export interface TensorsMessage {
  type: 'tensors';
  tensors: TensorReport[];
}

/** Progress of the live run, for the status line. */
export interface ProgressMessage {
  type: 'progress';
  progress: JobProgress;
}

/**
 * The run failed or was cancelled; the view keeps what it has, shows the failure (rule, message,
 * how far it got) in place of the report's empty states, and offers to run it again (`retry`).
 */
export interface FailedMessage {
  type: 'failed';
  /** The error's message; a refusal's ends with its rule in brackets (`... [rule]`), which the view shows apart. */
  message: string;
  cancelled: boolean;
  /** The refusal's rule where the host has it apart from the message (JobError.rule). */
  rule?: string;
}

/**
 * What the report is of, sent when the view is ready: `residual` when it describes a residual folder
 * or a compute's result (the panel has a residual path), the reports that "Apply this residual..."
 * and "Write model card" act on. Without it the view offers them only for a residual-only report.
 */
export interface ReportSourceMessage {
  type: 'source';
  residual: boolean;
}

/** Select and scroll to a tensor (e.g. from a tree view or a diagnostic). */
export interface SelectTensorMessage {
  type: 'selectTensor';
  name: string;
}

/** The host's answer to an action (export written, card written, ...), shown as a notice. */
export interface ActionResultMessage {
  type: 'actionResult';
  action: WebviewAction;
  ok: boolean;
  message: string;
}

export type ToWebviewMessage =
  | ShowReportMessage
  | BeginLiveMessage
  | TensorsMessage
  | ProgressMessage
  | FailedMessage
  | ReportSourceMessage
  | SelectTensorMessage
  | ActionResultMessage;

// ---- webview -> host -------------------------------------------------------------------------

/** The webview's script runs and listens; the host sends the report only after this. */
export interface ReadyMessage {
  type: 'ready';
  protocol: typeof WEBVIEW_PROTOCOL_VERSION;
  /** True when the view restored a report from `getState()` (the host may still resend it). */
  restored: boolean;
}

/** "Apply this residual...": the host asks for the base and output folder and runs apply. */
export interface ApplyResidualMessage {
  type: 'applyResidual';
}

/** "Write model card": the host writes README.md next to the residual. */
export interface WriteModelCardMessage {
  type: 'writeModelCard';
}

/**
 * Export: the webview serialises what it shows (JSON = the report, CSV = the table rows in the
 * current sort and filter); the host asks where to save and writes `content` as UTF-8.
 */
export interface ExportMessage {
  type: 'export';
  format: 'json' | 'csv';
  suggestedName: string;
  content: string;
  /** CSV: which rows `content` holds, in words ("2 of 5,000 tensors: status shape-mismatch"), for the host's dialog or notice. */
  rows?: string;
}

/**
 * "Export as LoRA adapter": the host runs Export as LoRA Adapter on what the report describes (its residual, or
 * its two checkpoints as base and instruct). `rank`, from the energy-against-rank chart, is one rank for every
 * matrix, and then only the output folder is asked for; without it the host asks for the rank too.
 */
export interface ExportLoraMessage {
  type: 'exportLora';
  rank?: number;
}

/** "Run again" on a failed or cancelled run: the host starts the same job again. */
export interface RetryMessage {
  type: 'retry';
}

/** Errors inside the webview (a chart that failed, a bad message), for the host's log. */
export interface WebviewLogMessage {
  type: 'log';
  level: 'info' | 'warn' | 'error';
  message: string;
}

export type FromWebviewMessage =
  | ReadyMessage
  | ApplyResidualMessage
  | WriteModelCardMessage
  | ExportMessage
  | ExportLoraMessage
  | RetryMessage
  | WebviewLogMessage;

export type WebviewAction = 'applyResidual' | 'writeModelCard' | 'export' | 'exportLora' | 'retry';

// ---- state kept by vscode.setState -----------------------------------------------------------

export type SortKey =
  | 'name' | 'status' | 'dtype' | 'deltaNorm' | 'relativeNorm' | 'cosine' | 'maxAbsDelta' | 'zeroFraction' | 'elements';

export interface WebviewUiState {
  tab: 'overview' | 'tensors' | 'tokenizer' | 'config';
  sort: { key: SortKey; descending: boolean };
  filter: string;
  /** Empty = every status. */
  statuses: string[];
  /** A heatmap cell the table is narrowed to; null = all layers and modules. */
  cell: { layer: number | null; module: string } | null;
  selected: string | null;
}

/**
 * What the webview stores with `vscode.setState`: after a reload (or the panel being hidden
 * without retainContextWhenHidden) it comes back as it was. A panel serializer on the host can
 * also rebuild the panel from it after a window reload, because it carries the report itself.
 */
export interface WebviewState {
  protocol: typeof WEBVIEW_PROTOCOL_VERSION;
  report: DiffReport | null;
  ui: WebviewUiState;
}

export const DEFAULT_UI_STATE: WebviewUiState = {
  tab: 'overview',
  sort: { key: 'relativeNorm', descending: true },
  filter: '',
  statuses: [],
  cell: null,
  selected: null,
};

const FROM_WEBVIEW_TYPES: ReadonlySet<string> = new Set(['ready', 'applyResidual', 'writeModelCard', 'export', 'exportLora', 'retry', 'log']);

/** The host checks what it receives before acting on it (the webview renders untrusted files). */
export function isFromWebviewMessage(value: unknown): value is FromWebviewMessage {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as Record<string, unknown>;
  if (typeof message.type !== 'string' || !FROM_WEBVIEW_TYPES.has(message.type)) return false;
  switch (message.type) {
    case 'ready':
      return message.protocol === WEBVIEW_PROTOCOL_VERSION && typeof message.restored === 'boolean';
    case 'export':
      return (message.format === 'json' || message.format === 'csv')
        && typeof message.suggestedName === 'string' && typeof message.content === 'string'
        && (message.rows === undefined || typeof message.rows === 'string');
    case 'exportLora':
      return message.rank === undefined
        || (typeof message.rank === 'number' && Number.isInteger(message.rank) && message.rank >= 1 && message.rank <= MAX_LORA_RANK);
    case 'log':
      return (message.level === 'info' || message.level === 'warn' || message.level === 'error')
        && typeof message.message === 'string';
    default:
      return true;
  }
}

/** The webview checks what it receives (a message from any other source is ignored). */
export function isToWebviewMessage(value: unknown): value is ToWebviewMessage {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as Record<string, unknown>;
  switch (message.type) {
    case 'report':
      return typeof message.report === 'object' && message.report !== null;
    case 'begin':
      return typeof message.a === 'object' && message.a !== null && typeof message.tensorsTotal === 'number';
    case 'tensors':
      return Array.isArray(message.tensors);
    case 'progress':
      return typeof message.progress === 'object' && message.progress !== null;
    case 'failed':
      return typeof message.message === 'string' && (message.rule === undefined || typeof message.rule === 'string');
    case 'source':
      return typeof message.residual === 'boolean';
    case 'selectTensor':
      return typeof message.name === 'string';
    case 'actionResult':
      return typeof message.action === 'string' && typeof message.ok === 'boolean' && typeof message.message === 'string';
    default:
      return false;
  }
}
