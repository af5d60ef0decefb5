/**
 * Remembers the reports this workspace produced (compute and compare), so the hover on a model
 * reference can show headline statistics and open the report again. The reports are JSON files in
 * the extension's workspace storage; an index of their checkpoints lives in workspaceState.
 */
import * as vscode from 'vscode';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { DiffReport, DiffSummary } from '../shared/report';

const INDEX_KEY = 'checkpointSurgeon.reports';
/** Older entries are dropped from the index; the hover only needs recent ones. */
const MAX_REPORTS = 200;

export interface StoredReportEntry {
  id: string;
  title: string;
  a: string;
  b?: string;
  residual?: string;
  summary: DiffSummary;
  savedAt: string;
}

export class ReportStore {
  constructor(private readonly context: vscode.ExtensionContext) {}

  private get folder(): string {
    return (this.context.storageUri ?? this.context.globalStorageUri).fsPath;
  }

  entries(): StoredReportEntry[] {
    return this.context.workspaceState.get<StoredReportEntry[]>(INDEX_KEY, []);
  }

  async save(report: DiffReport, title: string, residual?: string): Promise<StoredReportEntry> {
    const id = createHash('sha256').update(`${report.a.path}\n${report.b?.path ?? ''}\n${residual ?? ''}`).digest('hex').slice(0, 16);
    await mkdir(this.folder, { recursive: true });
    await writeFile(join(this.folder, `report-${id}.json`), JSON.stringify(report));
    const entry: StoredReportEntry = {
      id, title, a: report.a.path, ...(report.b ? { b: report.b.path } : {}), ...(residual ? { residual } : {}),
      summary: report.summary, savedAt: new Date().toISOString(),
    };
    const rest = this.entries().filter((e) => e.id !== id);
    await this.context.workspaceState.update(INDEX_KEY, [entry, ...rest].slice(0, MAX_REPORTS));
    return entry;
  }

  async load(id: string): Promise<DiffReport | undefined> {
    if (!/^[0-9a-f]{16}$/.test(id)) return undefined;
    try {
      return JSON.parse(await readFile(join(this.folder, `report-${id}.json`), 'utf8')) as DiffReport;
    } catch {
      return undefined;
    }
  }

  /** Reports that involve the checkpoint at `path` (as A, B or the residual written). */
  about(path: string): StoredReportEntry[] {
    const target = resolve(path);
    return this.entries().filter((e) => [e.a, e.b, e.residual].some((p) => p !== undefined && resolve(p) === target));
  }
}
