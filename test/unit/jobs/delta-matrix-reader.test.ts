import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Checkpoint } from '../../../src/engine/checkpoint/checkpoint-types';
import type { FloatDtype } from '../../../src/engine/format/dtype';
import { DeltaMatrixReader } from '../../../src/engine/jobs/delta-matrix-reader';
import { openInput } from '../../../src/engine/jobs/open-input';
import type { TensorPair } from '../../../src/engine/jobs/pair-tensors';
import { loadKernels, type ElementwiseKernels } from '../../../src/engine/kernels/kernels';
import { writeCheckpoint, type TensorWithData } from '../../helpers/make-checkpoint';
import {
  DTYPE_BYTES, differences, readBits, referenceSubtract, seededRandom, type ElementBits,
} from '../kernels/kernel-test-support';

const COLS = 11;

/** Random element bits (NaN, infinities and subnormals included) for `rows` x COLS. */
function randomTensor(name: string, dtype: FloatDtype, rows: number, random: () => number): TensorWithData {
  const data = new Uint8Array(rows * COLS * DTYPE_BYTES[dtype]);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(random() * 256);
  return { name, dtype, shape: [rows, COLS], data };
}

function bitsOfTensor(tensor: TensorWithData): ElementBits[] {
  return readBits({ bytes: tensor.data }, tensor.dtype as FloatDtype, tensor.data.byteLength / DTYPE_BYTES[tensor.dtype as FloatDtype]);
}

/** b - a element by element by the kernels' reference, rows a side lacks taken as +0. */
function expectedDelta(a: TensorWithData | undefined, b: TensorWithData, count: number): ElementBits[] {
  const aDtype = (a?.dtype ?? b.dtype) as FloatDtype;
  const bDtype = b.dtype as FloatDtype;
  const aBits = a === undefined ? [] : bitsOfTensor(a);
  const bBits = bitsOfTensor(b);
  const zero = (dtype: FloatDtype): ElementBits => (dtype === 'F64' ? 0n : 0);
  return Array.from({ length: count }, (_, i) => referenceSubtract(aDtype, aBits[i] ?? zero(aDtype), bDtype, bBits[i] ?? zero(bDtype), 'F32'));
}

/** The f32 bits of a delta matrix. */
function bitsOfMatrix(matrix: Float32Array): number[] {
  return Array.from(new Uint32Array(matrix.buffer, matrix.byteOffset, matrix.length));
}

describe('delta matrix reader: B - A of a matrix as f32, for the spectral pass', () => {
  let root: string;
  let a: Checkpoint;
  let b: Checkpoint;
  const written = new Map<string, { a?: TensorWithData; b: TensorWithData }>();
  /** [name, dtype of A or none, rows of A, dtype of B, rows of B] */
  const cases: Array<[string, FloatDtype | undefined, number, FloatDtype, number]> = [
    ['bf16', 'BF16', 13, 'BF16', 13],
    ['f16', 'F16', 13, 'F16', 13],
    ['f32', 'F32', 13, 'F32', 13],
    ['f64', 'F64', 13, 'F64', 13],
    ['bf16-f32', 'BF16', 13, 'F32', 13],
    ['f16-f64', 'F16', 13, 'F64', 13],
    ['b-grown', 'BF16', 10, 'BF16', 13],
    ['a-grown', 'F32', 13, 'F16', 10],
    ['b-alone', undefined, 0, 'BF16', 13],
  ];
  const pairs = new Map<string, TensorPair>();
  let implementations: ElementwiseKernels[];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-delta-reader-'));
    const random = seededRandom(41);
    const aTensors: TensorWithData[] = [];
    const bTensors: TensorWithData[] = [];
    for (const [name, aDtype, aRows, bDtype, bRows] of cases) {
      const bTensor = randomTensor(name, bDtype, bRows, random);
      const aTensor = aDtype === undefined ? undefined : randomTensor(name, aDtype, aRows, random);
      bTensors.push(bTensor);
      if (aTensor) aTensors.push(aTensor);
      written.set(name, { a: aTensor, b: bTensor });
    }
    aTensors.push({ name: 'counts', dtype: 'I32', shape: [2, COLS], data: new Uint8Array(2 * COLS * 4) });
    // Shards of one tensor each in A: the reader keeps one handle per file.
    await writeCheckpoint(join(root, 'a'), aTensors, { shardSize: 1 });
    await writeCheckpoint(join(root, 'b'), bTensors);
    a = await openInput(join(root, 'a'));
    b = await openInput(join(root, 'b'));
    for (const [name, , aRows, , bRows] of cases) {
      pairs.set(name, {
        name, a: a.tensors.get(name), b: b.tensors.get(name), status: 'changed', comparable: true, arithmetic: true,
        shape: [Math.max(aRows, bRows), COLS],
      });
    }
    implementations = [await loadKernels('wasm-simd'), await loadKernels('js')];
  });

  after(async () => {
    for (const kernels of implementations ?? []) kernels.dispose();
    await rm(root, { recursive: true, force: true });
  });

  for (const chunkElements of [7, 1 << 20]) {
    it(`gives the kernels' f32 bits of b - a for every dtype pair, zeros for missing rows (chunks of ${chunkElements})`, async () => {
      for (const kernels of implementations) {
        const reader = new DeltaMatrixReader(kernels, { chunkElements });
        try {
          for (const [name] of cases) {
            const pair = pairs.get(name)!;
            const count = pair.shape[0]! * COLS;
            const matrix = await reader.read(pair);
            assert.equal(matrix.length, count, name);
            const { a: aTensor, b: bTensor } = written.get(name)!;
            const found = differences('F32', bitsOfMatrix(matrix), expectedDelta(aTensor, bTensor, count), (i) => `${kernels.name} ${name}[${i}]`);
            assert.deepEqual(found, []);
          }
        } finally {
          await reader.close();
        }
      }
    });
  }

  it('reuses one array: a smaller matrix after a larger one, then the larger again, each with its own values', async () => {
    const [kernels] = implementations;
    const reader = new DeltaMatrixReader(kernels!, { chunkElements: 16 });
    try {
      const first = bitsOfMatrix(await reader.read(pairs.get('f32')!));
      const smaller = await reader.read(pairs.get('a-grown')!);
      assert.equal(smaller.length, 13 * COLS);
      const { a: aTensor, b: bTensor } = written.get('a-grown')!;
      assert.deepEqual(differences('F32', bitsOfMatrix(smaller), expectedDelta(aTensor, bTensor, 13 * COLS), String), []);
      assert.deepEqual(bitsOfMatrix(await reader.read(pairs.get('f32')!)), first);
    } finally {
      await reader.close();
    }
  });

  it("builds each matrix in the storage it is given, such as a matrix backend's own memory", async () => {
    const [kernels] = implementations;
    const requests: number[] = [];
    const shared = new Float32Array(new SharedArrayBuffer(64 * COLS * 4));
    const reader = new DeltaMatrixReader(kernels!, { chunkElements: 16, storage: (elements) => (requests.push(elements), shared.subarray(0, elements)) });
    try {
      const delta = await reader.read(pairs.get('a-grown')!);
      assert.equal(delta.buffer, shared.buffer);
      assert.deepEqual(requests, [13 * COLS]);
      const { a: aTensor, b: bTensor } = written.get('a-grown')!;
      assert.deepEqual(differences('F32', bitsOfMatrix(delta), expectedDelta(aTensor, bTensor, 13 * COLS), String), []);
    } finally {
      await reader.close();
    }
  });

  it('refuses a dtype without arithmetic and a side larger than the matrix, naming file and tensor', async () => {
    const reader = new DeltaMatrixReader(implementations[0]!);
    try {
      const counts = a.tensors.get('counts')!;
      await assert.rejects(
        reader.read({ name: 'counts', a: counts, b: counts, status: 'changed', comparable: true, arithmetic: false, shape: [2, COLS] }),
        (error: Error & { rule?: string; file?: string; tensor?: string }) =>
          error.rule === 'usage' && /I32 has no spectrum/.test(error.message) && error.file === counts.file.path && error.tensor === 'counts',
      );
      const large = b.tensors.get('bf16')!;
      await assert.rejects(
        reader.read({ ...pairs.get('bf16')!, shape: [12, COLS] }),
        (error: Error & { rule?: string; file?: string }) => error.rule === 'shape-mismatch' && error.file === large.file.path,
      );
    } finally {
      await reader.close();
    }
  });
});
