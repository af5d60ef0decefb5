/**
 * Writes the demo workspace `npm run demo` and `npm start` use: small Llama-like checkpoints that tell the
 * story real ones tell. `instruct` is `base` after instruction tuning: every weight moved by a relative
 * norm of 1e-3 to 1e-2, more in later layers and in the attention output and MLP down projections, and 8
 * chat tokens added, with a chat template. `cpt-base` is `base` after continued pretraining: larger, even
 * moves, and the base tokenizer. A training config to hover over comes with them. A workspace written by
 * an older version of this script (no `.demo-version` of this one) is written anew.
 * Run with tsx: `tsx e2e/lib/make-demo-workspace.ts <folder>`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { bf16ToNumber } from '../../src/engine/numerics/bfloat16';
import { encodeFloat32, llamaLikeTensors, mulberry32, writeCheckpoint, type TensorWithData } from '../../test/helpers/make-checkpoint';

const DEMO_VERSION = '2';
const SHAPE = { layers: 4, hidden: 64, intermediate: 176, dtype: 'BF16' as const, tied: false };
const BASE_VOCABULARY = 256;
const CHAT_TOKENS = ['<|im_start|>', '<|im_end|>', '<|system|>', '<|user|>', '<|assistant|>', '<|tool_call|>', '<|tool_result|>', '<|pad|>'];
const SPECIAL_TOKENS = ['<unk>', '<s>', '</s>'];
const CHAT_TEMPLATE = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}"
  + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Relative size of instruction tuning's change per module: attention output and MLP down move most. */
const INSTRUCT_MODULE_SCALE: ReadonlyArray<readonly [RegExp, number]> = [
  [/o_proj|down_proj/, 2.5], [/v_proj|up_proj|gate_proj/, 1.5], [/q_proj|k_proj/, 0.8], [/norm/, 4], [/embed_tokens|lm_head/, 0.5],
];

export async function makeDemoWorkspace(folder: string): Promise<string[]> {
  await mkdir(folder, { recursive: true });
  const marker = join(folder, '.demo-version');
  const current = existsSync(marker) && readFileSync(marker, 'utf8').trim() === DEMO_VERSION;
  const base = llamaLikeTensors({ ...SHAPE, vocab: BASE_VOCABULARY, seed: 1 });
  const models: Array<[string, TensorWithData[], Record<string, string>, number]> = [
    ['base', base, baseTokenizerFiles(), BASE_VOCABULARY],
    ['instruct', instructionTuned(base), instructTokenizerFiles(), BASE_VOCABULARY + CHAT_TOKENS.length],
    ['cpt-base', continuedPretraining(base), baseTokenizerFiles(), BASE_VOCABULARY],
  ];
  const written: string[] = [];
  for (const [name, tensors, sideFiles, vocab] of models) {
    const dir = join(folder, name);
    if (current && existsSync(dir)) continue;
    await rm(dir, { recursive: true, force: true });
    await writeCheckpoint(dir, tensors, {
      config: {
        architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: SHAPE.hidden, intermediate_size: SHAPE.intermediate,
        num_hidden_layers: SHAPE.layers, num_attention_heads: 4, vocab_size: vocab, tie_word_embeddings: false, torch_dtype: 'bfloat16',
      },
      sideFiles,
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
  await writeFile(marker, `${DEMO_VERSION}\n`);
  return written;
}

/** base + a delta of relative norm 1e-3 to 1e-2 per tensor, growing with depth, by module; 8 new token rows. */
function instructionTuned(base: readonly TensorWithData[]): TensorWithData[] {
  const random = mulberry32(2);
  return base.map((tensor) => {
    const layer = Number(/\.layers\.(\d+)\./.exec(tensor.name)?.[1] ?? SHAPE.layers / 2);
    const moduleScale = INSTRUCT_MODULE_SCALE.find(([pattern]) => pattern.test(tensor.name))?.[1] ?? 1;
    const relative = 2e-3 * moduleScale * (1 + (1.5 * layer) / SHAPE.layers);
    const grown = /embed_tokens|lm_head/.test(tensor.name) ? CHAT_TOKENS.length : 0;
    return moved(tensor, relative, random, grown);
  });
}

/** base + an even delta of relative norm about 3e-2: continued pretraining moves everything a little more. */
function continuedPretraining(base: readonly TensorWithData[]): TensorWithData[] {
  const random = mulberry32(3);
  return base.map((tensor) => moved(tensor, 3e-2, random, 0));
}

/** `tensor` + noise of `relative` times its RMS per element, with `newRows` rows of fresh values appended. */
function moved(tensor: TensorWithData, relative: number, random: () => number, newRows: number): TensorWithData {
  const values = decodeBf16(tensor.data);
  const rms = Math.sqrt(values.reduce((sum, value) => sum + value * value, 0) / values.length);
  const rowLength = tensor.shape.slice(1).reduce((product, dimension) => product * dimension, 1);
  const out = new Float32Array(values.length + newRows * rowLength);
  // Uniform noise in [-a, a] has RMS a / sqrt(3).
  const amplitude = relative * rms * Math.sqrt(3);
  for (let i = 0; i < values.length; i++) out[i] = values[i]! + (random() * 2 - 1) * amplitude;
  for (let i = values.length; i < out.length; i++) out[i] = (random() * 2 - 1) * rms * Math.sqrt(3);
  const shape = newRows > 0 ? [tensor.shape[0]! + newRows, ...tensor.shape.slice(1)] : tensor.shape;
  return { ...tensor, shape, data: encodeFloat32(out, 'BF16') };
}

function decodeBf16(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float32Array.from({ length: bytes.byteLength / 2 }, (_, i) => bf16ToNumber(view.getUint16(i * 2, true)));
}

/** A word-level tokenizer.json of the base vocabulary, with `chatTokens` added after it. */
function tokenizerJson(chatTokens: readonly string[]): string {
  const vocab: Record<string, number> = {};
  SPECIAL_TOKENS.forEach((token, id) => { vocab[token] = id; });
  for (let id = SPECIAL_TOKENS.length; id < BASE_VOCABULARY; id++) vocab[`w${id}`] = id;
  const added = [...SPECIAL_TOKENS.map((content, id) => ({ id, content })), ...chatTokens.map((content, index) => ({ id: BASE_VOCABULARY + index, content }))]
    .map(({ id, content }) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  return `${JSON.stringify({
    version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: { type: 'Whitespace' }, post_processor: null, decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  }, null, 2)}\n`;
}

function baseTokenizerFiles(): Record<string, string> {
  return {
    'tokenizer.json': tokenizerJson([]),
    'tokenizer_config.json': `${JSON.stringify({ bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', model_max_length: 2048, tokenizer_class: 'PreTrainedTokenizerFast' }, null, 2)}\n`,
    'generation_config.json': `${JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }, null, 2)}\n`,
  };
}

function instructTokenizerFiles(): Record<string, string> {
  return {
    'tokenizer.json': tokenizerJson(CHAT_TOKENS),
    'tokenizer_config.json': `${JSON.stringify({
      bos_token: '<s>', eos_token: '<|im_end|>', unk_token: '<unk>', pad_token: '<|pad|>', model_max_length: 2048,
      tokenizer_class: 'PreTrainedTokenizerFast', chat_template: CHAT_TEMPLATE,
    }, null, 2)}\n`,
    'generation_config.json': `${JSON.stringify({ bos_token_id: 1, eos_token_id: [2, BASE_VOCABULARY + 1] }, null, 2)}\n`,
  };
}

const target = process.argv[2];
if (target !== undefined && process.argv[1]?.endsWith('make-demo-workspace.ts')) {
  void makeDemoWorkspace(resolve(target)).then((written) => {
    for (const dir of written) console.log(`wrote ${dir}`);
  });
}
