import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MessageHandler, type Envelope } from '../../../src/shared/worker-protocol';

type Ping = { type: 'ping'; n: number } | { type: 'note'; text: string };
type Pong = { type: 'pong'; n: number };

test('requests get their own replies, events get none', async () => {
  const notes: string[] = [];
  let host!: MessageHandler<Ping, Pong>;
  const worker: MessageHandler<Pong, Ping> = new MessageHandler<Pong, Ping>(
    async (message) => {
      if (message.type === 'note') { notes.push(message.text); return undefined; }
      // Replies arrive out of order: the later request answers first.
      await new Promise((resolve) => setTimeout(resolve, message.n === 1 ? 20 : 0));
      return { type: 'pong', n: message.n * 10 };
    },
    (envelope) => void host.handleMessage(envelope as Envelope<Pong>),
  );
  host = new MessageHandler<Ping, Pong>(async () => undefined, (envelope) => void worker.handleMessage(envelope as Envelope<Ping>));
  host.sendEvent({ type: 'note', text: 'hello' });
  const [first, second] = await Promise.all([host.sendRequest<Pong>({ type: 'ping', n: 1 }), host.sendRequest<Pong>({ type: 'ping', n: 2 })]);
  assert.deepEqual([first.n, second.n], [10, 20]);
  assert.deepEqual(notes, ['hello']);
});

test('rejectAll fails every waiting request', async () => {
  const host = new MessageHandler<Ping, Pong>(async () => undefined, () => undefined);
  const waiting = host.sendRequest({ type: 'ping', n: 1 });
  host.rejectAll(new Error('worker exited'));
  await assert.rejects(waiting, /worker exited/);
});
