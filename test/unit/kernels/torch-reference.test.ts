/**
 * The kernels against bits PyTorch wrote (test/fixtures/torch-reference: PyTorch 2.13 on CPU, see SOURCE.txt):
 * residuals `(b.float() - a.float()).to(dtype)` and apply `torch.add(c.float(), r.float(), alpha=alpha).to(c.dtype)`
 * on weight-like values, every pair of edge values and random bit patterns. The other kernel tests check the kernels
 * against this project's own scalar reference; this one checks that reference's claim about PyTorch.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FloatDtype } from '../../../src/engine/format/dtype';
import { parseSafetensorsHeader, type TensorInfo } from '../../../src/engine/format/safetensors-header';
import { createDeltaStatistics, loadKernels, type ElementwiseKernels, type KernelBuffer } from '../../../src/engine/kernels/kernels';
import { DTYPE_BYTES, differences, readBits, type ElementBits } from './kernel-test-support';

const FILE = join(__dirname, '..', '..', 'fixtures', 'torch-reference', 'reference.safetensors');
const SUBTRACT = /^sub\.(BF16|F16|F32)(?:-(BF16|F16|F32))?\.to\.(BF16|F16|F32)$/;
const APPLY = /^apply\.(BF16|F16|F32)\.r\.(BF16|F16|F32)\.alpha\.(.+)$/;

describe('kernels give the bits PyTorch gives', () => {
  const bytes = readFileSync(FILE);
  const header = parseSafetensorsHeader(bytes, bytes.length, FILE);
  const byName = new Map(header.tensors.map((tensor) => [tensor.name, tensor]));
  const tensor = (name: string): TensorInfo => {
    const info = byName.get(name);
    assert.ok(info, `${name} is in ${FILE}`);
    return info;
  };
  const data = (info: TensorInfo): Uint8Array => bytes.subarray(header.dataStart + info.begin, header.dataStart + info.end);
  const expectedBits = (info: TensorInfo): ElementBits[] => {
    const dtype = info.dtype as FloatDtype;
    return readBits({ bytes: data(info) }, dtype, (info.end - info.begin) / DTYPE_BYTES[dtype]);
  };

  let implementations: ElementwiseKernels[] = [];
  before(async () => {
    implementations = [await loadKernels('wasm-simd'), await loadKernels('js')];
  });
  after(() => implementations.forEach((kernels) => kernels.dispose()));

  const load = (kernels: ElementwiseKernels, info: TensorInfo): KernelBuffer => {
    const buffer = kernels.allocate(info.end - info.begin);
    buffer.bytes.set(data(info));
    return buffer;
  };

  it('holds every case the generator writes', () => {
    assert.equal(header.metadata?.['torch']?.startsWith('2.'), true, 'written by PyTorch 2.x');
    assert.equal(header.tensors.filter((info) => SUBTRACT.test(info.name)).length, 3 * 3 + 1);
    // Residuals of the base's dtype and F32 (one kind for an F32 base), five alphas each.
    assert.equal(header.tensors.filter((info) => APPLY.test(info.name)).length, (2 + 2 + 1) * 5);
  });

  it('subtract, with and without statistics: (b.float() - a.float()).to(dtype)', () => {
    for (const reference of header.tensors.filter((info) => SUBTRACT.test(info.name))) {
      const [, aDtype, bDtype = aDtype, outDtype] = SUBTRACT.exec(reference.name)! as unknown as [string, FloatDtype, FloatDtype | undefined, FloatDtype];
      const a = tensor(`${aDtype}.a`);
      const b = tensor(`${bDtype}.b`);
      const count = (a.end - a.begin) / DTYPE_BYTES[aDtype];
      const expected = expectedBits(reference);
      for (const kernels of implementations) {
        for (const withStats of [false, true]) {
          const aBuffer = load(kernels, a);
          const bBuffer = load(kernels, b);
          const out = kernels.allocate(count * DTYPE_BYTES[outDtype]);
          kernels.subtract(aBuffer, aDtype, bBuffer, bDtype, out, outDtype, count, withStats ? createDeltaStatistics() : undefined);
          const label = `${kernels.name} ${reference.name}${withStats ? ' with statistics' : ''}`;
          assert.deepEqual(differences(outDtype, readBits(out, outDtype, count), expected, (i) => `element ${i}`), [], label);
          for (const buffer of [aBuffer, bBuffer, out]) kernels.free(buffer);
        }
      }
    }
  });

  it('apply: torch.add(c.float(), r.float(), alpha=alpha).to(c.dtype), the bits of torch.add(c, r, alpha=alpha) for alphas exact in the dtype', () => {
    for (const reference of header.tensors.filter((info) => APPLY.test(info.name))) {
      const [, cDtype, rDtype, alphaText] = APPLY.exec(reference.name)! as unknown as [string, FloatDtype, FloatDtype, string];
      const c = tensor(`${cDtype}.a`);
      const r = tensor(`sub.${cDtype}.to.${rDtype}`);
      const count = (c.end - c.begin) / DTYPE_BYTES[cDtype];
      const expected = expectedBits(reference);
      for (const kernels of implementations) {
        const cBuffer = load(kernels, c);
        const rBuffer = load(kernels, r);
        const out = kernels.allocate(count * DTYPE_BYTES[cDtype]);
        kernels.addScaled(cBuffer, cDtype, rBuffer, rDtype, Number(alphaText), out, cDtype, count);
        assert.deepEqual(differences(cDtype, readBits(out, cDtype, count), expected, (i) => `element ${i}`), [], `${kernels.name} ${reference.name}`);
        for (const buffer of [cBuffer, rBuffer, out]) kernels.free(buffer);
      }
    }
  });
});
