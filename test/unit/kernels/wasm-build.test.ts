/** The committed WebAssembly bytes must be a fresh compile of kernels.wat (run scripts/build-wasm.mjs after edits). */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { it } from 'node:test';

interface BuildScript {
  compileWat(text: string): Promise<Uint8Array<ArrayBuffer>>;
  renderGeneratedModule(bytes: Uint8Array<ArrayBuffer>): string;
  GENERATED_PATH: string;
  WAT_PATH: string;
}

it('kernels.wasm.ts equals a fresh compile of kernels.wat', async () => {
  const script = '../../../scripts/build-wasm.mjs';
  const { compileWat, GENERATED_PATH, renderGeneratedModule, WAT_PATH } = (await import(script)) as BuildScript;
  const bytes = await compileWat(await readFile(WAT_PATH, 'utf8'));
  assert.ok(WebAssembly.validate(bytes), 'the compiled module validates');
  assert.equal(await readFile(GENERATED_PATH, 'utf8'), renderGeneratedModule(bytes));
});
