/**
 * What the stream shows whoever observes its input reads (the provenance hashing): every byte it read,
 * in its own order, from memory that stays untouched until the observer lets go of it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { openCheckpoint } from '../../../src/engine/checkpoint/open-checkpoint';
import { withJobKernels } from '../../../src/engine/jobs/job-kernels';
import { streamTensors, type InputReading, type StreamTask } from '../../../src/engine/jobs/tensor-stream';
import { llamaLikeTensors, makeTensor, writeCheckpoint } from '../../helpers/make-checkpoint';

const scratch = mkdtemp(join(tmpdir(), 'surgeon-stream-'));
after(async () => rm(await scratch, { recursive: true, force: true }));

test('the observer sees every input byte the stream read, in stream order, and the memory is held until it lets go', async () => {
  const root = await scratch;
  const seeded = (seed: number): () => number => {
    let state = seed;
    return () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5;
  };
  // 2 MiB tensors make 4 pieces each: with 4 slots, 20 pieces reuse every slot several times.
  const tensorsOf = (seed: number) => [
    ...llamaLikeTensors({ layers: 1, hidden: 16, vocab: 40, dtype: 'BF16', tied: false, seed }),
    ...[0, 1, 2, 3, 4].map((index) => makeTensor(`model.big.${index}.weight`, [1024, 1024], 'BF16', seeded(seed * 10 + index))),
  ];
  await writeCheckpoint(join(root, 'a'), tensorsOf(1));
  await writeCheckpoint(join(root, 'b'), tensorsOf(2));
  const [a, b] = [await openCheckpoint(join(root, 'a')), await openCheckpoint(join(root, 'b'))];
  const tasks: Array<StreamTask<null>> = [...b.tensors.values()].map((ref) => ({
    name: ref.name,
    elements: ref.elementCount,
    operands: [a.tensors.get(ref.name)!, ref].map((operand) => ({ ref: operand, dtype: operand.dtype, presentElements: operand.elementCount })),
    context: null,
  }));

  const files = new Map([a, b].map((checkpoint) => [checkpoint.files[0]!.path, checkpoint.files[0]!]));
  const contents = new Map(await Promise.all([...files.keys()].map(async (path) => [path, await readFile(path)] as const)));
  const seen: Array<{ path: string; position: number; length: number }> = [];
  const problems: string[] = [];
  const reading: InputReading = {
    direct: new Set(),
    observe(path, position, bytes) {
      seen.push({ path, position, length: bytes.byteLength });
      const copy = bytes.slice();
      if (!Buffer.from(copy).equals(contents.get(path)!.subarray(position, position + bytes.byteLength))) problems.push(`wrong bytes at ${position}`);
      // Held a while: a slot read into meanwhile would change the bytes under the observer.
      return delay(3).then(() => {
        if (!Buffer.from(bytes).equals(Buffer.from(copy))) problems.push(`bytes at ${position} of ${path} changed while held`);
      });
    },
  };
  const processed: string[] = [];
  await withJobKernels((kernels) => streamTensors(tasks, { processPiece: ({ task, start }) => void processed.push(`${task.name}@${start}`) }, {
    kernels, inputReading: Promise.resolve(reading),
  }));

  assert.deepEqual(problems, []);
  assert.equal(processed.length * 2, seen.length, 'one observation per operand and piece');
  for (const [path, file] of files) {
    const ranges = seen.filter((range) => range.path === path);
    // The stream reads tensors in the order they lie in the file (the reference writer's, by name): one run, front to back.
    for (let index = 1; index < ranges.length; index++) {
      assert.equal(ranges[index]!.position, ranges[index - 1]!.position + ranges[index - 1]!.length, `contiguous at ${index}`);
    }
    const tensors = [...(file === a.files[0] ? a : b).tensors.values()];
    assert.equal(ranges[0]!.position, Math.min(...tensors.map((ref) => ref.offset)));
    assert.equal(ranges.at(-1)!.position + ranges.at(-1)!.length, file.size);
  }
});

test('prepareTask runs before a task\'s first piece, releaseTask after its last, and every prepared task is released when the stream fails', async () => {
  const root = await scratch;
  await writeCheckpoint(join(root, 'hooks'), [0, 1, 2, 3, 4, 5].map((index) => makeTensor(`model.t.${index}.weight`, [1024, 1024], 'BF16', () => index)));
  const checkpoint = await openCheckpoint(join(root, 'hooks'));
  const tasks: Array<StreamTask<null>> = [...checkpoint.tensors.values()].map((ref) => ({
    name: ref.name, elements: ref.elementCount, operands: [{ ref, dtype: ref.dtype, presentElements: ref.elementCount }], context: null,
  }));
  const run = async (failAt?: string): Promise<string[]> => {
    const events: string[] = [];
    const live = new Set<string>();
    await withJobKernels((kernels) => streamTensors(tasks, {
      prepareTask: async (task) => {
        await delay(1);
        live.add(task.name);
        events.push(`prepare ${task.name}`);
      },
      releaseTask: (task) => {
        live.delete(task.name);
        events.push(`release ${task.name}`);
      },
      processPiece: ({ task, start }) => {
        assert.ok(live.has(task.name), `${task.name} is prepared before its piece at ${start}`);
        if (task.name === failAt) throw new Error('stop');
      },
    }, { kernels })).catch((error: unknown) => {
      if ((error as Error).message !== 'stop') throw error;
      events.push('failed');
    });
    assert.deepEqual([...live], [], 'every prepared task is released');
    return events;
  };
  const events = await run();
  for (const task of tasks) assert.equal(events.filter((event) => event.endsWith(` ${task.name}`)).length, 2, task.name);
  const failed = await run('model.t.2.weight');
  assert.ok(failed.includes('failed'));
  assert.equal(failed.filter((event) => event.startsWith('prepare')).length, failed.filter((event) => event.startsWith('release')).length);
});
