/** provenance.json records where the inputs are, so `card` writes the same portable references compute and apply wrote. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { runCard, runCompute } from '../../../src/engine/jobs';
import { llamaLikeTensors, writeCheckpoint } from '../../helpers/make-checkpoint';
import { scratchFolders } from '../../helpers/scratch-folders';

const newFolder = scratchFolders('surgeon-card-paths-');

describe('card after compute', () => {
  it('records absolute input paths and writes base_model relative to the card, never absolute', async () => {
    const root = await newFolder();
    const config = { model_type: 'llama', hidden_size: 8, num_hidden_layers: 1, vocab_size: 12 };
    for (const [name, seed] of [['base', 1], ['instruct', 2]] as const) {
      await writeCheckpoint(join(root, 'models', name), llamaLikeTensors({ layers: 1, hidden: 8, vocab: 12, dtype: 'BF16', tied: false, seed }), { config });
    }
    const out = join(root, 'outputs', 'residual');
    await runCompute({ base: join(root, 'models', 'base'), instruct: join(root, 'models', 'instruct'), out });
    const provenance = JSON.parse(await readFile(join(out, 'provenance.json'), 'utf8')) as { base: { path: string }; instruct: { path: string } };
    assert.equal(provenance.base.path, join(root, 'models', 'base'));
    const written = await readFile(join(out, 'README.md'), 'utf8');
    await runCard({ dir: out });
    const rewritten = await readFile(join(out, 'README.md'), 'utf8');
    const frontMatter = (card: string): { base_model: string } => parse(card.split('---')[1]!) as { base_model: string };
    assert.equal(frontMatter(rewritten).base_model, '../../models/base');
    assert.equal(frontMatter(rewritten).base_model, frontMatter(written).base_model);
    assert.ok(!rewritten.includes(root), 'no absolute path in the card');
  });
});
