/**
 * Runs engine jobs inside the worker: one AbortController per job, progress throttled and tensor
 * statistics batched before they cross the thread boundary. Pure of `vscode` and of worker_threads,
 * so it is tested directly with node:test.
 */
import { runApply, runCard, runCompute, runDiff, runInspect, runLora, runVerify } from '../engine/jobs/index';
import { loadMatrixBackend } from '../spectra-backends/load-matrix-backend';
import { isSurgeonError } from '../engine/errors';
import type { JobCallbacks, JobProgress, PlanIssue } from '../shared/jobs';
import type { DiffReport, TensorReport } from '../shared/report';
import {
  cancelledJobError, WorkerMessageType,
  type FromWorkerMessage, type JobFailedMessage, type JobRequest, type JobResult,
  type JobSucceededMessage, type SerializedError,
} from '../shared/worker-protocol';

/** Progress crosses the thread boundary at most this often; the host throttles its UI again. */
const PROGRESS_INTERVAL_MS = 100;
/** Finished tensors are sent in batches this often, so a 10,000-tensor model is not 10,000 messages. */
const TENSOR_BATCH_INTERVAL_MS = 200;

export type SendEvent = (message: FromWorkerMessage) => void;

export class JobRunner {
  private readonly running = new Map<string, AbortController>();

  constructor(private readonly sendEvent: SendEvent) {}

  get runningJobs(): number {
    return this.running.size;
  }

  cancel(jobId: string): void {
    this.running.get(jobId)?.abort();
  }

  async run(jobId: string, job: JobRequest): Promise<JobSucceededMessage | JobFailedMessage> {
    const controller = new AbortController();
    this.running.set(jobId, controller);
    const updates = new ThrottledUpdates(jobId, this.sendEvent);
    const callbacks: JobCallbacks = {
      signal: controller.signal,
      onProgress: (progress) => updates.progress(progress),
      onTensor: (tensor) => updates.tensor(tensor),
    };
    try {
      const result = await dispatch(job, callbacks);
      updates.flush();
      return { type: WorkerMessageType.JobSucceeded, jobId, result };
    } catch (error) {
      updates.flush();
      return { type: WorkerMessageType.JobFailed, jobId, error: serializeError(error, controller.signal.aborted) };
    } finally {
      updates.dispose();
      this.running.delete(jobId);
    }
  }
}

function dispatch(job: JobRequest, callbacks: JobCallbacks): Promise<JobResult> {
  switch (job.kind) {
    // Dry runs are the CLI's; the extension shows a plan's problems from the job's refusal.
    case 'compute': return runCompute({ ...job.options, dryRun: false }, callbacks);
    case 'apply': return runApply({ ...job.options, dryRun: false }, callbacks);
    case 'verify': return runVerify(job.options, callbacks);
    case 'diff': return runDiff(job.options, callbacks, { loadSpectraBackend: loadMatrixBackend });
    case 'inspect': return runInspect(job.options, callbacks);
    case 'card': return runCard(job.options);
    case 'lora': return runLora({ ...job.options, dryRun: false }, callbacks, { loadSpectraBackend: loadMatrixBackend });
  }
}

function serializeError(error: unknown, aborted = false): SerializedError {
  if (isSurgeonError(error)) {
    // A PlanRefusal (the dry run's) also carries its issues and, where it got that far, the report.
    const { issues, report } = error as { issues?: unknown; report?: unknown };
    return {
      name: error.name, message: error.message, rule: error.rule, detail: error.detail,
      ...(error.file === undefined ? {} : { file: error.file }),
      ...(error.tensor === undefined ? {} : { tensor: error.tensor }),
      ...(Array.isArray(issues) ? { issues: issues as PlanIssue[] } : {}),
      ...(typeof report === 'object' && report !== null ? { report: report as DiffReport } : {}),
    };
  }
  if (aborted) {
    return cancelledJobError();
  }
  if (error instanceof Error) {
    return { name: error.name, message: error.message, ...(error.stack === undefined ? {} : { stack: error.stack }) };
  }
  return { name: 'Error', message: String(error) };
}

/** Keeps the latest progress and the finished tensors, and sends them on timers. */
class ThrottledUpdates {
  private lastProgressAt = 0;
  private pendingProgress: JobProgress | undefined;
  private progressTimer: ReturnType<typeof setTimeout> | undefined;
  private tensors: TensorReport[] = [];
  private tensorTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly jobId: string, private readonly sendEvent: SendEvent) {}

  progress(progress: JobProgress): void {
    this.pendingProgress = progress;
    const wait = this.lastProgressAt + PROGRESS_INTERVAL_MS - Date.now();
    if (wait <= 0) {
      this.sendProgress();
    } else if (this.progressTimer === undefined) {
      this.progressTimer = setTimeout(() => this.sendProgress(), wait);
    }
  }

  tensor(tensor: TensorReport): void {
    this.tensors.push(tensor);
    this.tensorTimer ??= setTimeout(() => this.sendTensors(), TENSOR_BATCH_INTERVAL_MS);
  }

  flush(): void {
    this.sendProgress();
    this.sendTensors();
  }

  dispose(): void {
    clearTimeout(this.progressTimer);
    clearTimeout(this.tensorTimer);
  }

  private sendProgress(): void {
    clearTimeout(this.progressTimer);
    this.progressTimer = undefined;
    if (this.pendingProgress === undefined) return;
    this.lastProgressAt = Date.now();
    this.sendEvent({ type: WorkerMessageType.Progress, jobId: this.jobId, progress: this.pendingProgress });
    this.pendingProgress = undefined;
  }

  private sendTensors(): void {
    clearTimeout(this.tensorTimer);
    this.tensorTimer = undefined;
    if (this.tensors.length === 0) return;
    this.sendEvent({ type: WorkerMessageType.TensorsFinished, jobId: this.jobId, tensors: this.tensors });
    this.tensors = [];
  }
}
