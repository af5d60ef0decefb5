/** The committed WebAssembly bytes must be fresh compiles of their WAT sources (run scripts/build-wasm.mjs after edits). */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';

interface WasmModule {
  watPath: string;
  generatedPath: string;
  constant: string;
}

interface BuildScript {
  compileWat(text: string, fileName?: string): Promise<Uint8Array<ArrayBuffer>>;
  renderGeneratedModule(bytes: Uint8Array<ArrayBuffer>, module: WasmModule): string;
  WASM_MODULES: WasmModule[];
}

// A path in a variable: the build script is a plain JavaScript module without type declarations.
const script = '../../../scripts/build-wasm.mjs';
const loadBuildScript = async (): Promise<BuildScript> => (await import(script)) as BuildScript;

describe('generated WebAssembly modules', () => {
  it('each equals a fresh compile of its WAT source, kernels and matrix products alike', async () => {
    const { compileWat, renderGeneratedModule, WASM_MODULES } = await loadBuildScript();
    assert.deepEqual(WASM_MODULES.map((module) => path.basename(module.watPath)), ['kernels.wat', 'products.wat']);
    for (const module of WASM_MODULES) {
      const bytes = await compileWat(await readFile(module.watPath, 'utf8'), path.basename(module.watPath));
      assert.ok(WebAssembly.validate(bytes), 'the compiled module validates');
      const generated = await readFile(module.generatedPath, 'utf8');
      assert.equal(generated, renderGeneratedModule(bytes, module));
      assert.match(generated, new RegExp(`export const ${module.constant} =`));
    }
  });
});
