/**
 * Hover on a model reference in YAML and JSON files (`model_name_or_path: ./checkpoints/base`):
 * architecture, parameters, dtype and vocabulary of the checkpoint it names (a local folder or a
 * Hub id present in the local Hugging Face cache), and headline statistics with a link to the
 * report when one exists for it in this workspace.
 */
import * as vscode from 'vscode';
import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { resolveHubId } from '../engine/hub/hub-cache';
import { formatCount, formatParameters } from '../shared/quantities';
import type { InspectResult } from '../shared/jobs';
import { findListItemAt, findReferenceAt, type CheckpointReference } from './checkpoint-reference';
import type { JobService } from './job-service';
import type { ReportStore } from './report-store';

/** Inspect results are cached this long; a checkpoint folder rarely changes under an open config. */
const INSPECT_CACHE_MS = 60_000;
/** How far up a YAML list item looks for the key that opened the list. */
const MAX_LIST_LOOKBACK_LINES = 50;

export const HOVER_SELECTOR: vscode.DocumentSelector = [
  { language: 'yaml' }, { language: 'json' }, { language: 'jsonc' },
];

interface Resolved {
  path: string;
  hubId?: string;
}

export class CheckpointHoverProvider implements vscode.HoverProvider {
  private readonly cache = new Map<string, { at: number; result: Promise<InspectResult> }>();

  constructor(private readonly jobs: JobService, private readonly reports: ReportStore) {}

  async provideHover(document: vscode.TextDocument, position: vscode.Position, token: vscode.CancellationToken): Promise<vscode.Hover | undefined> {
    const reference = referenceAt(document, position);
    if (reference === undefined) return undefined;
    const resolved = await resolveReference(reference.value, document.uri);
    if (resolved === undefined || token.isCancellationRequested) return undefined;
    let result: InspectResult;
    try {
      result = await this.inspect(resolved.path);
    } catch {
      return undefined;
    }
    if (token.isCancellationRequested) return undefined;
    const range = new vscode.Range(position.line, reference.start, position.line, reference.end);
    return new vscode.Hover(this.describe(result, resolved), range);
  }

  private inspect(path: string): Promise<InspectResult> {
    const cached = this.cache.get(path);
    if (cached !== undefined && Date.now() - cached.at < INSPECT_CACHE_MS) return cached.result;
    const result = this.jobs.run('inspect', { path }, { title: `Inspect ${path}`, quiet: true });
    this.cache.set(path, { at: Date.now(), result });
    result.catch(() => this.cache.delete(path));
    return result;
  }

  private describe(result: InspectResult, resolved: Resolved): vscode.MarkdownString {
    const md = new vscode.MarkdownString(undefined, true);
    md.isTrusted = { enabledCommands: ['checkpointSurgeon.openReport'] };
    const dtypes = Object.entries(result.dtypes).sort((x, y) => y[1] - x[1]).map(([d, n]) => `${d} (${n})`).join(', ');
    md.appendMarkdown('**Checkpoint Surgeon**\n\n');
    if (resolved.hubId) md.appendText(`${resolved.hubId} (Hugging Face cache)\n\n`);
    const rows: Array<[string, string]> = [
      ['Architecture', result.architecture ?? result.modelType ?? 'unknown'],
      ['Parameters', formatParameters(result.parameters)],
      ['Dtype', dtypes || 'none'],
      ['Vocabulary', vocabularyOf(result)],
      ['Tensors', `${formatCount(result.tensors.length)} in ${Math.max(1, result.shards.length)} file(s)`],
    ];
    for (const [label, value] of rows) {
      md.appendMarkdown(`${label}: `);
      md.appendText(value);
      md.appendMarkdown('  \n');
    }
    for (const entry of this.reports.about(resolved.path).slice(0, 3)) {
      const s = entry.summary;
      md.appendMarkdown('\n---\n\n');
      md.appendText(entry.title);
      md.appendMarkdown('  \n');
      md.appendText(`changed ${s.counts.changed ?? 0} tensors, ${formatParameters(s.parametersChanged)} of ${formatParameters(s.parametersCompared)} parameters`);
      if (typeof s.globalRelativeNorm === 'number') md.appendText(`, relative norm ${s.globalRelativeNorm.toExponential(3)}`);
      const top = s.mostChanged[0];
      if (top !== undefined) {
        md.appendMarkdown('  \nmost changed: ');
        md.appendText(`${top.name} (${top.relativeNorm.toExponential(3)})`);
      }
      const args = encodeURIComponent(JSON.stringify([{ id: entry.id }]));
      md.appendMarkdown(`  \n[Open report](command:checkpointSurgeon.openReport?${args})\n`);
    }
    return md;
  }
}

function referenceAt(document: vscode.TextDocument, position: vscode.Position): CheckpointReference | undefined {
  const line = document.lineAt(position.line).text;
  const direct = findReferenceAt(line, position.character);
  if (direct !== undefined) return direct;
  if (!/^\s*-\s/.test(line)) return undefined;
  for (let l = position.line - 1; l >= Math.max(0, position.line - MAX_LIST_LOOKBACK_LINES); l--) {
    const previous = document.lineAt(l).text;
    if (/^\s*-\s/.test(previous) || previous.trim() === '') continue;
    return findListItemAt(line, position.character, previous);
  }
  return undefined;
}

/** A local path (absolute, relative to the file, or to a workspace folder), else a cached Hub id. */
async function resolveReference(value: string, documentUri: vscode.Uri): Promise<Resolved | undefined> {
  const candidates = isAbsolute(value) ? [value] : [
    ...(documentUri.scheme === 'file' ? [resolve(dirname(documentUri.fsPath), value)] : []),
    ...(vscode.workspace.workspaceFolders ?? []).map((folder) => resolve(folder.uri.fsPath, value)),
  ];
  for (const candidate of candidates) {
    if (await stat(candidate).then(() => true, () => false)) return { path: candidate };
  }
  try {
    const snapshot = await resolveHubId(value);
    return snapshot === undefined ? undefined : { path: snapshot.path, hubId: `${snapshot.repo}@${snapshot.revision}` };
  } catch {
    return undefined;
  }
}

/** The tokenizer's vocabulary, else the rows of the input embedding (a folder without tokenizer files). */
function vocabularyOf(result: InspectResult): string {
  const rows = result.tokenizer?.vocabSize ?? result.tensors.find((t) => t.name.endsWith('embed_tokens.weight'))?.shape[0];
  return rows == null ? 'unknown' : formatCount(rows);
}
