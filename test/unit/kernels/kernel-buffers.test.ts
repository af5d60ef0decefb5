/** Allocation, views, memory growth, reuse, and the refusals of both implementations. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSurgeonError } from '../../../src/engine/errors';
import { createDeltaStatistics, loadKernels } from '../../../src/engine/kernels/kernels';

for (const name of ['wasm-simd', 'js'] as const) {
  describe(`${name} buffers`, () => {
    it('allocates zeroed, aligned buffers, also after reuse and growth', async () => {
      const kernels = await loadKernels(name);
      assert.equal(kernels.name, name);
      const first = kernels.allocate(100);
      assert.equal(first.byteLength, 100);
      assert.equal(first.bytes.byteOffset % 64, 0);
      first.bytes.fill(7);
      kernels.free(first);
      const again = kernels.allocate(100);
      assert.ok(again.bytes.every((byte) => byte === 0), 'reused memory is zeroed');
      again.bytes.fill(9);
      // 64 MiB more forces the WebAssembly memory to grow; the old buffer's contents survive.
      const big = kernels.allocate(64 << 20);
      assert.equal(big.byteLength, 64 << 20);
      assert.ok(again.bytes.every((byte) => byte === 9));
      kernels.free(big);
      kernels.free(again);
    });

    it('views share bytes and refuse ranges outside the buffer', async () => {
      const kernels = await loadKernels(name);
      const buffer = kernels.allocate(32);
      const view = buffer.view(8, 8);
      view.bytes[0] = 42;
      assert.equal(buffer.bytes[8], 42);
      assert.throws(() => buffer.view(30, 4), (error) => isSurgeonError(error) && error.rule === 'usage');
    });

    it('refuses non-float dtypes, short buffers, foreign and freed buffers', async () => {
      const kernels = await loadKernels(name);
      const other = await loadKernels(name);
      const a = kernels.allocate(16);
      const b = kernels.allocate(16);
      const out = kernels.allocate(16);
      assert.throws(() => kernels.subtract(a, 'I32', b, 'F32', out, 'F32', 4), (error) => isSurgeonError(error) && error.rule === 'dtype-mismatch');
      assert.throws(() => kernels.subtract(a, 'F32', b, 'F32', out, 'F32', 5), (error) => isSurgeonError(error) && error.rule === 'usage');
      assert.throws(() => kernels.convert(other.allocate(16), 'F32', out, 'F32', 4), (error) => isSurgeonError(error) && error.rule === 'usage');
      assert.throws(() => kernels.subtract(a, 'F32', b, 'F32', out, 'F32', -1), (error) => isSurgeonError(error) && error.rule === 'usage');
      if (name === 'wasm-simd') {
        kernels.free(b);
        assert.throws(() => kernels.subtract(a, 'F32', b, 'F32', out, 'F32', 4, createDeltaStatistics()), (error) => isSurgeonError(error) && error.rule === 'usage');
        assert.throws(() => kernels.free(b), (error) => isSurgeonError(error) && error.rule === 'usage');
      }
    });

    it('writes nothing past count, and zero elements is a no-op', async () => {
      const kernels = await loadKernels(name);
      const a = kernels.allocate(64);
      const b = kernels.allocate(64);
      const out = kernels.allocate(64);
      new Uint16Array(b.bytes.buffer, b.bytes.byteOffset, 32).fill(0x3f80);
      out.bytes.fill(0xee);
      kernels.subtract(a, 'BF16', b, 'BF16', out, 'BF16', 13);
      const written = new Uint16Array(out.bytes.buffer, out.bytes.byteOffset, 32);
      assert.ok(written.subarray(0, 13).every((bits) => bits === 0x3f80));
      assert.ok(out.bytes.subarray(26).every((byte) => byte === 0xee), 'bytes after the 13th element are untouched');
      kernels.subtract(a, 'BF16', b, 'BF16', out, 'BF16', 0, createDeltaStatistics());
      assert.equal(written[13], 0xeeee);
    });
  });
}
