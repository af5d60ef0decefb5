/**
 * The job worker's entry (`dist/worker.js`): it connects the parent port to the job runner.
 * The extension host starts it lazily and never reads tensor data itself.
 */
import { parentPort } from 'node:worker_threads';
import { JobRunner } from './job-runner';
import {
  MessageHandler, WorkerMessageType,
  type Envelope, type FromWorkerMessage, type ToWorkerMessage,
} from '../shared/worker-protocol';

const port = parentPort;
if (port === null) throw new Error('dist/worker.js must be started as a worker thread.');

const runner = new JobRunner((message) => handler.sendEvent(message));
const handler = new MessageHandler<FromWorkerMessage, ToWorkerMessage>(
  async (message) => {
    switch (message.type) {
      case WorkerMessageType.RunJob: return runner.run(message.jobId, message.job);
      case WorkerMessageType.CancelJob: runner.cancel(message.jobId); return undefined;
    }
  },
  (envelope) => port.postMessage(envelope),
);
port.on('message', (envelope: Envelope<ToWorkerMessage>) => void handler.handleMessage(envelope));
handler.sendEvent({ type: WorkerMessageType.Ready });
