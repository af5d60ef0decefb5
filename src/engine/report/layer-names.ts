/**
 * Maps a tensor name to its layer index and a module name from a small shared vocabulary, so that
 * the layer-by-module heatmap lines up across architectures (Llama, Mistral/Mixtral, Qwen2, Gemma,
 * Phi, GPT-2, GPT-NeoX, MiniCPM3 and the like) and experts are aggregated into one row each.
 */

export interface TensorLocation {
  /** Index of the transformer block, or null for tensors outside the blocks (embeddings, head, final norm). */
  layer: number | null;
  module: string;
}

/** The trailing parameter name says which parameter of a module this is, not which module. */
const PARAMETER_SUFFIXES: ReadonlySet<string> = new Set(['weight', 'bias']);

/** Module names inside a block, by the last component of the name. */
const BLOCK_MODULES: Readonly<Record<string, string>> = {
  q_proj: 'q', query: 'q', wq: 'q',
  k_proj: 'k', key: 'k', wk: 'k',
  v_proj: 'v', value: 'v', wv: 'v',
  o_proj: 'o', out_proj: 'o', wo: 'o',
  qkv_proj: 'qkv', query_key_value: 'qkv', c_attn: 'qkv', Wqkv: 'qkv', W_pack: 'qkv',
  gate_proj: 'gate', up_proj: 'up', down_proj: 'down', gate_up_proj: 'gate_up',
  fc1: 'up', fc2: 'down', c_fc: 'up', dense_h_to_4h: 'up', dense_4h_to_h: 'down',
  input_layernorm: 'input_norm', ln_1: 'input_norm', attention_norm: 'input_norm', input_norm: 'input_norm',
  post_attention_layernorm: 'post_attn_norm', ln_2: 'post_attn_norm', ffn_norm: 'post_attn_norm',
  pre_feedforward_layernorm: 'pre_ffn_norm', post_feedforward_layernorm: 'post_ffn_norm',
  q_norm: 'q_norm', k_norm: 'k_norm', q_layernorm: 'q_norm', k_layernorm: 'k_norm',
  // Multi-head latent attention (MiniCPM3, DeepSeek-V2/V3): low-rank query and key-value projections.
  q_a_proj: 'q_a', q_b_proj: 'q_b', kv_a_proj_with_mqa: 'kv_a', kv_b_proj: 'kv_b',
  q_a_layernorm: 'q_a_norm', kv_a_layernorm: 'kv_a_norm',
  router: 'router',
  inv_freq: 'rotary',
};

/** Tensors outside the blocks, by their name with the parameter suffix removed. */
const TOP_LEVEL_MODULES: ReadonlyArray<[RegExp, string]> = [
  [/(^|\.)(embed_tokens|wte|embed_in|word_embeddings|tok_embeddings)$/, 'embed'],
  [/(^|\.)wpe$/, 'pos_embed'],
  [/(^|\.)(lm_head|embed_out)$/, 'lm_head'],
  [/^output$/, 'lm_head'],
  [/(^|\.)(norm|ln_f|final_layer_norm|final_layernorm|final_norm)$/, 'norm'],
];

/** Containers a projection can sit in, which decide what an ambiguous leaf (`dense`, `c_proj`, `w1`) means. */
const ATTENTION_CONTAINERS: ReadonlySet<string> = new Set(['self_attn', 'attn', 'attention', 'self_attention', 'mixer']);

export function parseTensorName(name: string): TensorLocation {
  const parts = name.split('.');
  if (parts.length > 1 && PARAMETER_SUFFIXES.has(parts[parts.length - 1] ?? '')) parts.pop();
  const layerIndex = parts.findIndex(isIndex);
  if (layerIndex < 0) return { layer: null, module: topLevelModule(parts) };
  const layer = Number(parts[layerIndex]);
  const inside = parts.slice(layerIndex + 1);
  return { layer, module: blockModule(inside, name) };
}

function topLevelModule(parts: string[]): string {
  const path = parts.join('.');
  for (const [pattern, module] of TOP_LEVEL_MODULES) {
    if (pattern.test(path)) return module;
  }
  return lastMeaningful(parts) ?? path;
}

function blockModule(inside: string[], fullName: string): string {
  // GPT-2 stores its causal mask as `attn.bias` / `attn.masked_bias`: a buffer, not a projection.
  if (/\.attn\.(masked_)?bias$/.test(fullName)) return 'attn_mask';
  const expertAt = inside.findIndex((part, index) => part === 'experts' && isIndex(inside[index + 1] ?? ''));
  if (expertAt >= 0) {
    const leaf = lastMeaningful(inside.slice(expertAt + 2)) ?? 'expert';
    return `expert.${/^w[123]$/.test(leaf) ? leaf : (BLOCK_MODULES[leaf] ?? leaf)}`;
  }
  const named = inside.filter((part) => !isIndex(part));
  const leaf = named[named.length - 1];
  if (leaf === undefined) return 'block';
  const shared = named.some((part) => part === 'shared_expert' || part === 'shared_experts');
  const module = leafModule(leaf, named);
  return shared && module !== 'router' ? `shared_expert.${module}` : module;
}

function leafModule(leaf: string, named: string[]): string {
  const container = named[named.length - 2];
  const inAttention = container !== undefined && ATTENTION_CONTAINERS.has(container);
  // A bare `gate` beside experts is the router (Mixtral's block_sparse_moe.gate, Qwen-MoE's mlp.gate).
  if (leaf === 'gate') return 'router';
  if (leaf === 'dense' || leaf === 'c_proj') return inAttention ? 'o' : 'down';
  // Meta's original Llama/Mistral checkpoints call the gated MLP w1 (gate), w3 (up) and w2 (down).
  if (container === 'feed_forward' && /^w[123]$/.test(leaf)) return { w1: 'gate', w2: 'down', w3: 'up' }[leaf] ?? leaf;
  return BLOCK_MODULES[leaf] ?? leaf;
}

function lastMeaningful(parts: string[]): string | undefined {
  for (let index = parts.length - 1; index >= 0; index--) {
    const part = parts[index];
    if (part !== undefined && part !== '' && !isIndex(part) && !PARAMETER_SUFFIXES.has(part)) return part;
  }
  return undefined;
}

function isIndex(part: string): boolean {
  return /^\d+$/.test(part);
}
