/**
 * Writes the demo workspace `npm start` opens (and browser tests may reuse): small Llama-like
 * checkpoints `base`, `instruct` (vocabulary grown by 8 chat tokens) and `cpt-base` (a continued-
 * pretraining sibling of base), plus a training config to hover over. Existing folders are kept.
 * Run with tsx: `tsx e2e/lib/make-demo-workspace.ts <folder>`.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { llamaLikeTensors, writeCheckpoint } from '../../test/helpers/make-checkpoint';

const SHAPE = { layers: 4, hidden: 64, intermediate: 176, dtype: 'BF16' as const, tied: false };
const MODELS: ReadonlyArray<readonly [name: string, vocab: number, seed: number]> = [['base', 256, 1], ['instruct', 264, 2], ['cpt-base', 256, 3]];

export async function makeDemoWorkspace(folder: string): Promise<string[]> {
  await mkdir(folder, { recursive: true });
  const written: string[] = [];
  for (const [name, vocab, seed] of MODELS) {
    const dir = join(folder, name);
    if (existsSync(dir)) continue;
    await writeCheckpoint(dir, llamaLikeTensors({ ...SHAPE, vocab, seed }), {
      config: {
        architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: SHAPE.hidden, intermediate_size: SHAPE.intermediate,
        num_hidden_layers: SHAPE.layers, vocab_size: vocab, tie_word_embeddings: false, torch_dtype: 'bfloat16',
      },
    });
    written.push(dir);
  }
  await writeFile(join(folder, 'train.yaml'), [
    '# Hover over the paths below: Checkpoint Surgeon shows what they are.',
    'model_name_or_path: ./cpt-base',
    'base_model: ./base',
    'tokenizer_name: ./instruct',
    '',
  ].join('\n'));
  return written;
}

const target = process.argv[2];
if (target !== undefined && process.argv[1]?.endsWith('make-demo-workspace.ts')) {
  void makeDemoWorkspace(resolve(target)).then((written) => {
    for (const dir of written) console.log(`wrote ${dir}`);
  });
}
