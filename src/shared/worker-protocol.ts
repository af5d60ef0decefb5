/**
 * Messages between the extension host and the job worker (`dist/worker.js`). One union each way,
 * carried by the generic `MessageHandler` below, which follows vscode-hexeditor's shape: events
 * are fire-and-forget, requests carry a `messageId` and are answered by a reply whose `inReplyTo`
 * names them. This file is imported by both sides, so it must not import `vscode` or Node modules.
 */
import type {
  ApplyOptions, ApplyResult, CardOptions, CardResult, ComputeOptions, ComputeResult, DiffOptions,
  DiffResult, InspectOptions, InspectResult, JobKind, JobProgress, LoraOptions, LoraResult, PlanIssue, VerifyOptions, VerifyResult,
} from './jobs';
import type { DiffReport, TensorReport } from './report';

/** Each job kind with its options and result, so nothing is declared twice. */
export interface JobTable {
  compute: { options: ComputeOptions; result: ComputeResult };
  apply: { options: ApplyOptions; result: ApplyResult };
  verify: { options: VerifyOptions; result: VerifyResult };
  diff: { options: DiffOptions; result: DiffResult };
  inspect: { options: InspectOptions; result: InspectResult };
  card: { options: CardOptions; result: CardResult };
  lora: { options: LoraOptions; result: LoraResult };
}

export type JobRequest = { [K in JobKind]: { kind: K; options: JobTable[K]['options'] } }[JobKind];
export type JobResult = JobTable[JobKind]['result'];

/** The request for a job of `kind`; the one place a kind and its options become the request union. */
export function jobRequest<K extends JobKind>(kind: K, options: JobTable[K]['options']): JobRequest {
  return { kind, options } as JobRequest;
}

/** Whether a job's result is of `kind`: every result names its job's kind. */
export function isResultOf<K extends JobKind>(kind: K, result: JobResult): result is JobTable[K]['result'] {
  return result.kind === kind;
}

/** An error as it crosses the thread boundary; `rule` is set for the engine's refusals. */
export interface SerializedError {
  name: string;
  message: string;
  rule?: string;
  detail?: string;
  file?: string;
  tensor?: string;
  /** The dry run's findings, where the engine attached them to the refusal. */
  issues?: PlanIssue[];
  /** The dry run's report, where it got that far, so the host can open it at the problem. */
  report?: DiffReport;
  stack?: string;
}

/** How a cancelled job crosses the thread boundary: the worker sends it, and the host makes it when it stops a worker itself. */
export function cancelledJobError(): SerializedError {
  return { name: 'SurgeonError', message: 'The job was cancelled. [cancelled]', rule: 'cancelled', detail: 'The job was cancelled.' };
}

export enum WorkerMessageType {
  // #region to the worker
  RunJob = 'run-job',
  CancelJob = 'cancel-job',
  // #endregion
  // #region from the worker
  Ready = 'ready',
  JobSucceeded = 'job-succeeded',
  JobFailed = 'job-failed',
  Progress = 'progress',
  TensorsFinished = 'tensors-finished',
  // #endregion
}

/** Starts a job; answered by `JobSucceededMessage` or `JobFailedMessage`. */
export interface RunJobMessage { type: WorkerMessageType.RunJob; jobId: string; job: JobRequest }
/** Aborts a running job through its AbortSignal; the job's reply then fails with rule `cancelled`. */
export interface CancelJobMessage { type: WorkerMessageType.CancelJob; jobId: string }

export type ToWorkerMessage = RunJobMessage | CancelJobMessage;

/** Sent once when the worker has installed its message listener. */
export interface ReadyMessage { type: WorkerMessageType.Ready }
/** The job's result, the same object the CLI prints with `--json`. */
export interface JobSucceededMessage { type: WorkerMessageType.JobSucceeded; jobId: string; result: JobResult }
/** The job threw; the error keeps the engine's rule, file and tensor. */
export interface JobFailedMessage { type: WorkerMessageType.JobFailed; jobId: string; error: SerializedError }
/** Throttled progress of a running job. */
export interface ProgressMessage { type: WorkerMessageType.Progress; jobId: string; progress: JobProgress }
/** Statistics of tensors that became final since the last message, batched to bound message traffic. */
export interface TensorsFinishedMessage { type: WorkerMessageType.TensorsFinished; jobId: string; tensors: TensorReport[] }

export type FromWorkerMessage =
  | ReadyMessage | JobSucceededMessage | JobFailedMessage | ProgressMessage | TensorsFinishedMessage;

/** The envelope every message travels in. */
export interface Envelope<T> {
  messageId?: number;
  inReplyTo?: number;
  body: T;
}

interface PendingRequest {
  resolve(body: unknown): void;
  reject(error: Error): void;
}

/**
 * Sends and receives envelopes over any `postMessage` channel (a worker port, a webview).
 * `handle` answers incoming requests and events; a returned body is sent back as the reply.
 */
export class MessageHandler<TTo, TFrom> {
  private nextMessageId = 0;
  private readonly pending = new Map<number, PendingRequest>();

  constructor(
    private readonly handle: (message: TFrom) => Promise<TTo | undefined>,
    private readonly post: (envelope: Envelope<TTo>) => void,
  ) {}

  /** Sends a message that expects a reply and resolves with the reply's body. */
  sendRequest<TReply extends TFrom>(body: TTo): Promise<TReply> {
    const messageId = this.nextMessageId++;
    return new Promise<TReply>((resolve, reject) => {
      this.pending.set(messageId, { resolve: resolve as (body: unknown) => void, reject });
      this.post({ messageId, body });
    });
  }

  /** Sends a message that expects no reply. */
  sendEvent(body: TTo): void {
    this.post({ body });
  }

  /** Fails every request still waiting for a reply, for instance when the other side went away. */
  rejectAll(error: Error): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const request of waiting) request.reject(error);
  }

  async handleMessage(envelope: Envelope<TFrom>): Promise<void> {
    if (envelope.inReplyTo !== undefined) {
      const request = this.pending.get(envelope.inReplyTo);
      this.pending.delete(envelope.inReplyTo);
      request?.resolve(envelope.body);
      return;
    }
    const reply = await this.handle(envelope.body);
    if (reply !== undefined && envelope.messageId !== undefined) {
      this.post({ inReplyTo: envelope.messageId, body: reply });
    }
  }
}
