/**
 * The main job on the built-in demo trio: compute the residual of `instruct` over `base`, apply it
 * to the continued-pretraining sibling `cpt-base`, and verify that base + residual is instruct to
 * the bit — all through the built CLI, as a user on a cluster would run it.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { makeDemoWorkspace } from '../e2e/lib/make-demo-workspace';

const workspace = resolve(__dirname, '..', 'demo', 'generated');
const cli = resolve(__dirname, '..', 'dist', 'cli.js');

function run(...args: string[]): void {
  console.log(`\n$ checkpoint-surgeon ${args.map((arg) => arg.replace(`${workspace}/`, '')).join(' ')}`);
  const result = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

void (async () => {
  await makeDemoWorkspace(workspace);
  for (const output of ['residual', 'instruct-on-cpt']) rmSync(join(workspace, output), { recursive: true, force: true });
  const at = (name: string): string => join(workspace, name);
  run('inspect', at('instruct'));
  run('diff', at('base'), at('instruct'));
  run('compute', '--base', at('base'), '--instruct', at('instruct'), '--out', at('residual'));
  run('verify', '--base', at('base'), '--residual', at('residual'), '--instruct', at('instruct'));
  run('apply', '--base', at('cpt-base'), '--residual', at('residual'), '--out', at('instruct-on-cpt'), '--scale', '1');
  console.log(`\nResidual with its model card: ${at('residual')}\nApplied model: ${at('instruct-on-cpt')}`);
})();
