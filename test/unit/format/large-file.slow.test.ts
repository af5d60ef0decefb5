import assert from 'node:assert/strict';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openCheckpoint } from '../../../src/engine/checkpoint/open-checkpoint';
import { readSafetensorsHeader } from '../../../src/engine/format/safetensors-header';
import { encodeSafetensorsHeader } from '../../../src/engine/format/safetensors-writer';

const FIVE_GIB = 5 * 2 ** 30;

test('a sparse file over 4 GiB opens, with offsets past 2^32 exact', async () => {
  const folder = await mkdtemp(join(tmpdir(), 'surgeon-large-'));
  try {
    const path = join(folder, 'big.safetensors');
    const { bytes, offsets } = encodeSafetensorsHeader([
      { name: 'huge', dtype: 'U8', shape: [FIVE_GIB] },
      { name: 'tail', dtype: 'F32', shape: [4] },
    ], null);
    const end = offsets[1]?.[1] ?? 0;
    assert.equal(end, FIVE_GIB + 16);
    const tail = new Float32Array([1.5, -2, 3.25, 1e-3]);
    const handle = await open(path, 'w');
    try {
      await handle.write(bytes, 0, bytes.length, 0);
      // Only the last tensor's bytes are written; truncate makes the rest a hole, not disk usage.
      await handle.write(new Uint8Array(tail.buffer), 0, 16, bytes.length + FIVE_GIB);
      await handle.truncate(bytes.length + end);
    } finally {
      await handle.close();
    }
    assert.equal((await stat(path)).size, bytes.length + FIVE_GIB + 16);

    const header = await readSafetensorsHeader(path);
    assert.deepEqual(header.tensors.map((tensor) => [tensor.name, tensor.begin, tensor.end]),
      [['huge', 0, FIVE_GIB], ['tail', FIVE_GIB, FIVE_GIB + 16]]);

    const checkpoint = await openCheckpoint(path);
    const ref = checkpoint.tensors.get('tail');
    assert.ok(ref);
    assert.ok(ref.offset > 2 ** 32);
    const reader = await open(path, 'r');
    try {
      const back = new Uint8Array(ref.byteLength);
      await reader.read(back, 0, back.length, ref.offset);
      assert.deepEqual(new Float32Array(back.buffer), tail);
    } finally {
      await reader.close();
    }
    assert.equal(checkpoint.tensors.get('huge')?.elementCount, FIVE_GIB);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});
