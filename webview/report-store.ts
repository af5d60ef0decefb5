/**
 * What the view shows: a final report, or one being filled in by a live run. Summary and layer
 * cells of a live run are derived from the tensors received so far, by the engine's own definitions
 * (src/shared/report-summary.ts), so the final report's figures only extend the live ones.
 */
import { REPORT_SCHEMA, type DiffReport, type TensorReport } from '../src/shared/report';
import type { BeginLiveMessage } from '../src/shared/webview-protocol';
import { layerCells, summarizeTensors } from '../src/shared/report-summary';

export class ReportStore {
  report: DiffReport | null = null;
  live = false;
  tensorsTotal = 0;
  private indexByName = new Map<string, number>();

  setReport(report: DiffReport): void {
    this.report = report;
    this.live = false;
    this.tensorsTotal = report.tensors.length;
    this.reindex();
  }

  beginLive(message: BeginLiveMessage): void {
    this.live = true;
    this.tensorsTotal = message.tensorsTotal;
    this.report = {
      schema: REPORT_SCHEMA,
      a: message.a,
      ...(message.b === undefined ? {} : { b: message.b }),
      tensors: [],
      layers: [],
      tokenizer: null,
      config: null,
      summary: summarizeTensors([]),
    };
    this.indexByName.clear();
  }

  /** Adds (or replaces, by name) tensors of a live run and recomputes the derived parts. */
  addTensors(tensors: readonly TensorReport[]): void {
    const report = this.report;
    if (report === null) return;
    for (const tensor of tensors) {
      const index = this.indexByName.get(tensor.name);
      if (index === undefined) {
        this.indexByName.set(tensor.name, report.tensors.length);
        report.tensors.push(tensor);
      } else {
        report.tensors[index] = tensor;
      }
    }
    report.summary = summarizeTensors(report.tensors);
    report.layers = layerCells(report.tensors);
  }

  tensor(name: string): TensorReport | undefined {
    const index = this.indexByName.get(name);
    return index === undefined ? undefined : this.report?.tensors[index];
  }

  private reindex(): void {
    this.indexByName.clear();
    this.report?.tensors.forEach((tensor, index) => this.indexByName.set(tensor.name, index));
  }
}
