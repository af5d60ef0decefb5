// Builds only the webview bundle (dist/webview.js + dist/webview.css) with the options of
// scripts/build.mjs, so the standalone browser test does not wait for the other targets.
import { build } from 'esbuild';
import { join } from 'node:path';

/** @param {string} root repository root */
export async function buildWebview(root) {
  await build({
    entryPoints: [join(root, 'webview/main.ts')],
    outfile: join(root, 'dist/webview.js'),
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    sourcemap: true,
    logLevel: 'warning',
    legalComments: 'none',
  });
}
