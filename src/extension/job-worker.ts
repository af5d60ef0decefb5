/**
 * The extension host's side of the job worker: it starts `dist/worker.js` lazily, sends jobs,
 * routes progress and tensor batches to the job that asked, and cancels. A job that does not stop
 * within `CANCEL_GRACE_MS` of its AbortSignal gets the worker terminated (a fresh one starts for the
 * next job), so Cancel is always prompt even when a read is stuck.
 */
import { Worker } from 'node:worker_threads';
import type * as vscode from 'vscode';
import { MAX_KERNEL_THREADS, SURGEON_ENV } from '../shared/environment';
import type { JobKind, JobProgress } from '../shared/jobs';
import type { TensorReport } from '../shared/report';
import {
  cancelledJobError, isResultOf, jobRequest, MessageHandler, WorkerMessageType,
  type Envelope, type FromWorkerMessage, type JobFailedMessage, type JobSucceededMessage,
  type JobTable, type SerializedError, type ToWorkerMessage,
} from '../shared/worker-protocol';

/** How long a cancelled job may take to unwind before the worker is terminated. */
const CANCEL_GRACE_MS = 1_000;

export interface WorkerSettings {
  /** `auto`, `wasm` or `js` (the computeBackend setting). */
  computeBackend: string;
  /** Kernel threads (the workerThreads setting); 0 lets the engine choose from the number of cores. */
  threads: number;
}

/**
 * The job worker's environment: the host's, with the settings that are not at their defaults in the
 * variables the engine reads (src/shared/environment.ts). A setting at its default leaves the
 * variable as the host's environment has it.
 */
export function workerEnvironment(settings: WorkerSettings, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  if (settings.computeBackend !== 'auto') env[SURGEON_ENV.backend] = settings.computeBackend;
  if (Number.isInteger(settings.threads) && settings.threads > 0) {
    env[SURGEON_ENV.kernelThreads] = String(Math.min(settings.threads, MAX_KERNEL_THREADS));
  }
  return env;
}

export interface JobListeners {
  onProgress?(progress: JobProgress): void;
  onTensors?(tensors: TensorReport[]): void;
}

/** A failed job's error, rebuilt on the host with the engine's rule, file and tensor. */
export class JobError extends Error {
  readonly rule: string | undefined;
  readonly file: string | undefined;
  readonly tensor: string | undefined;
  readonly issues: SerializedError['issues'];
  readonly report: SerializedError['report'];

  constructor(readonly serialized: SerializedError) {
    super(serialized.message);
    this.name = serialized.name;
    this.rule = serialized.rule;
    this.file = serialized.file;
    this.tensor = serialized.tensor;
    this.issues = serialized.issues;
    this.report = serialized.report;
  }

  get cancelled(): boolean {
    return this.rule === 'cancelled';
  }
}

export function cancelledError(): JobError {
  return new JobError(cancelledJobError());
}

interface RunningJob {
  listeners: JobListeners;
  cancelTimer?: ReturnType<typeof setTimeout>;
}

export class JobWorker implements vscode.Disposable {
  private worker: Worker | undefined;
  private handler: MessageHandler<ToWorkerMessage, FromWorkerMessage> | undefined;
  private readonly running = new Map<string, RunningJob>();
  private nextJobId = 1;
  private settings: WorkerSettings;
  /** The running worker was started with settings that have changed since. */
  private staleSettings = false;

  constructor(private readonly scriptPath: string, settings: WorkerSettings, private readonly log: vscode.LogOutputChannel) {
    this.settings = settings;
  }

  /**
   * New settings take effect when the next worker starts: an idle worker is stopped now, a busy one
   * once its last running job ends, so the next job always runs with them.
   */
  updateSettings(settings: WorkerSettings): void {
    this.settings = settings;
    if (this.running.size === 0) this.stopWorker();
    else this.staleSettings = true;
  }

  /** Runs one job in the worker; its result is checked to be of `kind` before it is returned. */
  async run<K extends JobKind>(
    kind: K, options: JobTable[K]['options'], listeners: JobListeners, token?: vscode.CancellationToken,
  ): Promise<JobTable[K]['result']> {
    const jobId = `job-${this.nextJobId++}`;
    const handler = this.ensureWorker();
    const running: RunningJob = { listeners };
    this.running.set(jobId, running);
    const subscription = token?.onCancellationRequested(() => this.cancel(jobId));
    try {
      if (token?.isCancellationRequested) throw cancelledError();
      const reply = await handler.sendRequest<JobSucceededMessage | JobFailedMessage>({ type: WorkerMessageType.RunJob, jobId, job: jobRequest(kind, options) });
      if (reply.type === WorkerMessageType.JobFailed) throw new JobError(reply.error);
      if (!isResultOf(kind, reply.result)) throw new Error(`The job worker answered a ${kind} job with a ${reply.result.kind} result.`);
      return reply.result;
    } finally {
      subscription?.dispose();
      clearTimeout(running.cancelTimer);
      this.running.delete(jobId);
      if (this.running.size === 0 && this.staleSettings) this.stopWorker();
    }
  }

  private cancel(jobId: string): void {
    const running = this.running.get(jobId);
    if (running === undefined || running.cancelTimer !== undefined) return;
    this.handler?.sendEvent({ type: WorkerMessageType.CancelJob, jobId });
    running.cancelTimer = setTimeout(() => {
      this.log.warn(`${jobId} did not stop within ${CANCEL_GRACE_MS} ms of Cancel; terminating the worker.`);
      this.terminate(cancelledError());
    }, CANCEL_GRACE_MS);
  }

  private ensureWorker(): MessageHandler<ToWorkerMessage, FromWorkerMessage> {
    if (this.handler !== undefined) return this.handler;
    // The engine reads the settings from its environment when it loads its kernels; see docs/architecture.md (kernels).
    const worker = new Worker(this.scriptPath, { env: workerEnvironment(this.settings) });
    const handler = new MessageHandler<ToWorkerMessage, FromWorkerMessage>(
      async (message) => {
        this.route(message);
        return undefined;
      },
      (envelope) => worker.postMessage(envelope),
    );
    worker.on('message', (envelope: Envelope<FromWorkerMessage>) => void handler.handleMessage(envelope));
    worker.on('error', (error) => {
      this.log.error(`The job worker failed: ${error.stack ?? error.message}`);
      if (this.worker === worker) this.terminate(error);
    });
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      this.log.warn(`The job worker exited with code ${code}.`);
      this.terminate(new Error(`The job worker exited unexpectedly (code ${code}).`));
    });
    this.worker = worker;
    this.handler = handler;
    this.log.info(`Started the job worker (${this.scriptPath}, backend ${this.settings.computeBackend}, ${this.settings.threads > 0 ? `${this.settings.threads} kernel threads` : 'kernel threads by cores'}).`);
    return handler;
  }

  private route(message: FromWorkerMessage): void {
    switch (message.type) {
      case WorkerMessageType.Progress:
        this.running.get(message.jobId)?.listeners.onProgress?.(message.progress);
        break;
      case WorkerMessageType.TensorsFinished:
        this.running.get(message.jobId)?.listeners.onTensors?.(message.tensors);
        break;
      default:
        break;
    }
  }

  /** Stops the worker and fails every job it was running with `reason`. */
  private terminate(reason: Error): void {
    const handler = this.handler;
    this.stopWorker();
    handler?.rejectAll(reason);
  }

  private stopWorker(): void {
    const worker = this.worker;
    this.worker = undefined;
    this.handler = undefined;
    this.staleSettings = false;
    if (worker !== undefined) void worker.terminate();
  }

  dispose(): void {
    this.terminate(new Error('The extension is shutting down.'));
  }
}
