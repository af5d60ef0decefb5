/** The committed WebAssembly bytes must be a fresh compile of kernels.wat (run scripts/build-wasm.mjs after edits). */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { it } from 'node:test';
// @ts-expect-error The build script is plain JavaScript without type declarations.
import { compileWat, GENERATED_PATH, renderGeneratedModule, WAT_PATH } from '../../../scripts/build-wasm.mjs';

it('kernels.wasm.ts equals a fresh compile of kernels.wat', async () => {
  const bytes: Uint8Array = await compileWat(await readFile(WAT_PATH, 'utf8'));
  assert.ok(WebAssembly.validate(bytes), 'the compiled module validates');
  assert.equal(await readFile(GENERATED_PATH, 'utf8'), renderGeneratedModule(bytes));
});
