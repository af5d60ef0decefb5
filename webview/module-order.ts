/**
 * Modules in the order a transformer block computes them, for the heatmap's columns and the
 * spectra chart's lines: attention (q, k, v, o), the MLP (gate, up, down), the router and experts,
 * then the norms; the embeddings come first and the output head last. Names are the engine's
 * vocabulary (src/engine/report/layer-names.ts: `q`, `gate`, `expert.w1`, `input_norm`, ...);
 * other spellings (`self_attn.q_proj`, `mlp.down_proj`, `w1`) are read by their last component,
 * so a report from elsewhere sorts the same way. Pure.
 */

/** Column groups, in order. */
const Group = { Embedding: 0, Attention: 1, Mlp: 2, Router: 3, SharedExpert: 4, Expert: 5, Norm: 6, Other: 7, Head: 8 } as const;

const EMBEDDINGS = ['embed', 'pos_embed'];
/** Fused and low-rank (MLA) projections sit beside the projection they replace. */
const ATTENTION = ['qkv', 'q', 'q_a', 'q_b', 'k', 'kv_a', 'kv_b', 'v', 'o'];
const MLP = ['gate_up', 'gate', 'up', 'down'];
const NORMS = ['input_norm', 'q_norm', 'k_norm', 'q_a_norm', 'kv_a_norm', 'post_attn_norm', 'pre_ffn_norm', 'post_ffn_norm', 'norm'];

/** Other spellings of the engine's names, by a name's last component. */
const ALIASES: Readonly<Record<string, string>> = {
  q_proj: 'q', query: 'q', wq: 'q', k_proj: 'k', key: 'k', wk: 'k', v_proj: 'v', value: 'v', wv: 'v',
  o_proj: 'o', out_proj: 'o', wo: 'o', qkv_proj: 'qkv', query_key_value: 'qkv', c_attn: 'qkv',
  gate_proj: 'gate', up_proj: 'up', down_proj: 'down', gate_up_proj: 'gate_up', fc1: 'up', fc2: 'down', c_fc: 'up',
  // Meta's (and Mixtral's expert) names for the gated MLP.
  w1: 'gate', w3: 'up', w2: 'down',
  input_layernorm: 'input_norm', post_attention_layernorm: 'post_attn_norm',
  embed_tokens: 'embed', wte: 'embed', wpe: 'pos_embed', embed_out: 'lm_head',
};

interface ModuleKey {
  group: number;
  /** Position inside the group; unknown names after the known ones. */
  rank: number;
}

function leafName(module: string): string {
  const parts = module.split('.').filter((part) => part !== '' && part !== 'weight' && part !== 'bias' && !/^\d+$/u.test(part));
  const leaf = parts[parts.length - 1] ?? module;
  return ALIASES[leaf] ?? leaf;
}

function rankIn(list: readonly string[], name: string): number {
  const index = list.indexOf(name);
  return index < 0 ? list.length : index;
}

function moduleKey(module: string): ModuleKey {
  const parts = module.split('.');
  const leaf = leafName(module);
  if (module === 'lm_head' || leaf === 'lm_head') return { group: Group.Head, rank: 0 };
  if (parts.some((part) => part === 'shared_expert' || part === 'shared_experts')) return { group: Group.SharedExpert, rank: rankIn(MLP, leaf) };
  if (parts.some((part) => part === 'expert' || part === 'experts')) return { group: Group.Expert, rank: rankIn(MLP, leaf) };
  // A bare `gate` beside experts is the router (Mixtral's block_sparse_moe.gate).
  if (leaf === 'router' || (leaf === 'gate' && parts.some((part) => part.includes('moe')))) return { group: Group.Router, rank: 0 };
  if (EMBEDDINGS.includes(leaf)) return { group: Group.Embedding, rank: rankIn(EMBEDDINGS, leaf) };
  if (ATTENTION.includes(leaf)) return { group: Group.Attention, rank: rankIn(ATTENTION, leaf) };
  if (MLP.includes(leaf)) return { group: Group.Mlp, rank: rankIn(MLP, leaf) };
  if (NORMS.includes(leaf) || /norm/u.test(leaf)) return { group: Group.Norm, rank: rankIn(NORMS, leaf) };
  return { group: Group.Other, rank: 0 };
}

/** Sorts module names in architecture order; names of one rank (unknown ones) alphabetically. */
export function compareModules(x: string, y: string): number {
  const a = moduleKey(x);
  const b = moduleKey(y);
  return a.group - b.group || a.rank - b.rank || (x < y ? -1 : x > y ? 1 : 0);
}
