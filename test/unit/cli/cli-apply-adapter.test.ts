/**
 * `checkpoint-surgeon apply --residual <PEFT adapter folder>` in this process: the --json result says the residual was
 * a LoRA adapter and what was merged, and --dry-run pairs each module with the model's tensor without writing.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ApplyResult, DryRunResult } from '../../../src/shared/jobs';
import { llamaLikeTensors, makeTensor, mulberry32, writeCheckpoint } from '../../helpers/make-checkpoint';
import { writePeftAdapter } from '../../helpers/make-peft-adapter';
import { runCli as cli } from '../../helpers/run-cli';
import { scratchFolders } from '../../helpers/scratch-folders';

const newFolder = scratchFolders('surgeon-cli-apply-adapter-');
const Q = 'model.layers.0.self_attn.q_proj';
const K = 'model.layers.0.self_attn.k_proj';

/** A bf16 model and an adapter of rank 2 on q_proj and k_proj (BF16 factors, lora_alpha 4: scaling 2). */
async function modelAndAdapter(): Promise<{ root: string; model: string; adapter: string }> {
  const root = await newFolder();
  const model = join(root, 'model');
  await writeCheckpoint(model, llamaLikeTensors({ layers: 1, hidden: 8, vocab: 12, dtype: 'BF16', tied: false, seed: 3 }),
    { config: { model_type: 'llama', hidden_size: 8, num_hidden_layers: 1, vocab_size: 12, tie_word_embeddings: false } });
  const random = mulberry32(9);
  const factor = (shape: [number, number]): ReturnType<typeof makeTensor> => makeTensor('factor', shape, 'BF16', () => random() - 0.5);
  const adapter = await writePeftAdapter(join(root, 'adapter'), {
    config: { r: 2, lora_alpha: 4, target_modules: ['q_proj', 'k_proj'] },
    modules: [Q, K].map((module) => ({ module, a: factor([2, 8]), b: factor([8, 2]) })),
  });
  return { root, model, adapter };
}

describe('checkpoint-surgeon apply --residual <PEFT adapter>', () => {
  it('--json prints the apply result with the modules merged', async () => {
    const { root, model, adapter } = await modelAndAdapter();
    const out = join(root, 'merged');
    const run = await cli('apply', '--base', model, '--residual', adapter, '--out', out, '--json');
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as ApplyResult;
    assert.equal(result.kind, 'apply');
    assert.deepEqual(result.applied.slice().sort(), [`${K}.weight`, `${Q}.weight`]);
    assert.deepEqual(result.lora?.modules.map((module) => [module.module, module.rank, module.scaling]).sort(), [[K, 2, 2], [Q, 2, 2]]);
    assert.deepEqual(result.lora?.replaced, []);
    assert.ok((await readdir(out)).includes('model.safetensors'));
  });

  it('--dry-run --json pairs each module with the model\'s tensor and writes nothing', async () => {
    const { root, model, adapter } = await modelAndAdapter();
    const out = join(root, 'merged');
    const run = await cli('apply', '--base', model, '--residual', adapter, '--out', out, '--dry-run', '--json');
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as DryRunResult;
    assert.equal(result.kind, 'dry-run');
    const pairing = result.issues.filter((issue) => issue.rule === 'lora-module');
    assert.deepEqual(pairing.map((issue) => issue.tensor).sort(), [`${K}.weight`, `${Q}.weight`]);
    assert.match(pairing[0]!.message, /\[8, 8\] \+= α · 2 · lora_B \[8, 2\] @ lora_A \[2, 8\] \(BF16 factors, rank 2, scaling 2 = lora_alpha 4 \/ r 2\)/);
    assert.ok(!(await readdir(root)).includes('merged'));
  });
});
