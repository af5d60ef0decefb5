// Builds a synthetic DiffReport for the browser tests: a MoE-shaped model with a chosen number of
// tensors, a vocabulary growth (the shape-mismatch section), a dtype change, tensors on one side
// only, a tokenizer and config diff, and hostile strings wherever a file's text is shown. With
// `spectra`, every changed 2-D matrix also gets a spectrum (as `diff --spectra` attaches), the
// hostile-named ones the lowest effective ranks so that they lead the lowest-rank table.

/** Strings that would execute or reorder text if the view used innerHTML or ignored bidi. */
export const HOSTILE = {
  img: '<img src=x onerror="window.__pwned=true;alert(1)">',
  script: '</script><script>window.__pwned=true;alert(1)</script>',
  bidi: 'model.layers.1.\u202Egnp.exe.weight',
};

export const HOSTILE_TENSORS = {
  img: `model.layers.0.${HOSTILE.img}.weight`,
  script: `model.layers.0.${HOSTILE.script}.weight`,
  bidi: HOSTILE.bidi,
};

const HISTOGRAM_BINS = 64;
const EXPERT_WEIGHTS = ['w1', 'w2', 'w3'];
/** Tensor names (Mixtral's) with the modules the engine gives them (src/engine/report/layer-names.ts). */
const ATTENTION = [['self_attn.q_proj', 'q'], ['self_attn.k_proj', 'k'], ['self_attn.v_proj', 'v'], ['self_attn.o_proj', 'o']];
const NORMS = [['input_layernorm', 'input_norm'], ['post_attention_layernorm', 'post_attn_norm']];
/** The singular values `diff --spectra` computes by default (DEFAULT_SPECTRA_PASS_RANK). */
const SPECTRA_RANK = 64;
export const SPECTRA_PROVIDER = 'Spectra on onnxruntime-node CPU execution provider';

function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function changed(name, layer, module, shape, rand, scale) {
  const elements = shape.reduce((x, y) => x * y, 1);
  const baseNorm = Math.sqrt(elements) * 0.02 * (0.5 + rand());
  const relativeNorm = scale * (0.5 + rand());
  const deltaNorm = baseNorm * relativeNorm;
  const std = deltaNorm / Math.sqrt(elements);
  const counts = Array.from({ length: HISTOGRAM_BINS }, (_, i) => {
    const x = (i + 0.5 - HISTOGRAM_BINS / 2) / (HISTOGRAM_BINS / 8);
    return Math.round(elements * 0.12 * Math.exp(-(x * x) / 2) * (0.9 + 0.2 * rand()));
  });
  return {
    name, status: 'changed', a: { dtype: 'BF16', shape }, b: { dtype: 'BF16', shape }, elements, layer, module,
    deltaNorm, baseNorm, relativeNorm, cosine: 1 - relativeNorm ** 2 / 2, maxAbsDelta: std * 6,
    meanDelta: std * (rand() - 0.5) * 0.01, stdDelta: std, zeroFraction: 0.02 * rand(), nonFinite: 0,
    histogram: { min: -std * 4, max: std * 4, counts },
  };
}

/**
 * A spectrum shaped like a fine-tune's delta: singular values decaying as i^-decay, so a larger
 * decay gives a lower effective rank and more energy in the leading values.
 */
function spectrum(decay, frobeniusNorm, shape) {
  const smallerSide = Math.min(...shape);
  const values = Array.from({ length: Math.min(SPECTRA_RANK, smallerSide) }, (_, i) => (i + 1) ** -decay);
  const computedEnergy = values.reduce((sum, s) => sum + s * s, 0);
  // The computed values hold most, not all, of the energy: the tail past rank 64 holds the rest.
  // The computed values hold all the energy when they are all the matrix has (as the engine reports).
  const total = values.length === smallerSide ? computedEnergy : computedEnergy / 0.9;
  const scale = frobeniusNorm / Math.sqrt(total);
  const energyAt = (rank) => (rank >= smallerSide ? 1 : rank > values.length ? null
    : values.slice(0, rank).reduce((sum, s) => sum + s * s, 0) / total);
  const sum = values.reduce((x, y) => x + y, 0);
  const entropy = -values.reduce((h, s) => h + (s / sum) * Math.log(s / sum), 0);
  return {
    singularValues: values.map((s) => s * scale),
    frobeniusNorm,
    energyAtRank: { 8: energyAt(8), 16: energyAt(16), 64: energyAt(64), 256: energyAt(256) },
    effectiveRank: Math.exp(entropy),
    provider: 'onnxruntime-node CPU execution provider',
  };
}

function addSpectra(tensors, rand) {
  const hostile = new Set(Object.values(HOSTILE_TENSORS));
  for (const t of tensors) {
    if (t.status !== 'changed' || t.b?.shape.length !== 2) continue;
    const layerDepth = (t.layer ?? 0) / 24;
    // Attention deltas of later layers are closer to low rank; experts spread their change more.
    const decay = hostile.has(t.name) ? 3 : ['q', 'k', 'v', 'o'].includes(t.module) ? 0.6 + 0.8 * layerDepth + 0.1 * rand() : 0.3 + 0.2 * rand();
    t.spectra = spectrum(decay, t.deltaNorm, t.b.shape);
  }
}

/** @param {{ tensors?: number, seed?: number, spectra?: boolean }} [options] */
export function makeReport(options = {}) {
  const total = options.tensors ?? 5000;
  const rand = random(options.seed ?? 7);
  const hidden = 1024;
  const tensors = [];
  const special = [];
  special.push({
    name: 'model.embed_tokens.weight', status: 'shape-mismatch', a: { dtype: 'BF16', shape: [32000, hidden] },
    b: { dtype: 'BF16', shape: [32002, hidden] }, layer: null, module: 'embed',
    resolution: 'A grows to 32002 rows with zeros before subtracting; the 2 new tokens (<|im_start|>, <|im_end|>) get their instruct rows as delta.',
  });
  special.push({
    name: 'lm_head.weight', status: 'shape-mismatch', a: { dtype: 'BF16', shape: [32000, hidden] },
    b: { dtype: 'BF16', shape: [32002, hidden] }, layer: null, module: 'lm_head',
    resolution: 'A grows to 32002 rows with zeros before subtracting.',
  });
  special.push({ name: 'model.rotary_emb.inv_freq', status: 'dtype-mismatch', a: { dtype: 'F32', shape: [64] }, b: { dtype: 'BF16', shape: [64] }, layer: null, module: 'rotary' });
  special.push({ name: 'score.weight', status: 'only-in-b', b: { dtype: 'F32', shape: [2, hidden] }, layer: null, module: 'score' });
  // With spectra the hostile tensors are matrices, so that their names reach the lowest-rank table too.
  const hostileShape = options.spectra ? [16, hidden] : [hidden];
  special.push({ ...changed(HOSTILE_TENSORS.img, 0, 'mlp', hostileShape, rand, 0.01), status: 'changed' });
  special.push({ ...changed(HOSTILE_TENSORS.script, 0, 'mlp', hostileShape, rand, 0.01), status: 'changed' });
  special.push({ ...changed(HOSTILE_TENSORS.bidi, 1, 'mlp', hostileShape, rand, 0.01), status: 'changed' });
  special.push({ ...changed('model.norm.weight', null, 'norm', [hidden], rand, 0.05) });

  const budget = total - special.length;
  for (let layer = 0; tensors.length < budget; layer += 1) {
    const depth = layer / 24;
    for (const [path, module] of ATTENTION) {
      if (tensors.length >= budget) break;
      tensors.push(changed(`model.layers.${layer}.${path}.weight`, layer, module, [hidden, hidden], rand, 0.002 + 0.01 * depth));
    }
    for (const [path, module] of NORMS) {
      if (tensors.length >= budget) break;
      tensors.push(changed(`model.layers.${layer}.${path}.weight`, layer, module, [hidden], rand, 0.03 * (1 + depth)));
    }
    if (tensors.length < budget) {
      // The router is unchanged: its cells are exactly zero (histogram of a single value).
      tensors.push({ ...changed(`model.layers.${layer}.block_sparse_moe.gate.weight`, layer, 'router', [8, hidden], rand, 0), status: 'unchanged',
        deltaNorm: 0, relativeNorm: 0, cosine: 1, maxAbsDelta: 0, zeroFraction: 1, histogram: { min: 0, max: 0, counts: [8 * hidden] } });
    }
    for (let expert = 0; expert < 64 && tensors.length < budget; expert += 1) {
      for (const weight of EXPERT_WEIGHTS) {
        if (tensors.length >= budget) break;
        tensors.push(changed(`model.layers.${layer}.block_sparse_moe.experts.${expert}.${weight}.weight`, layer,
          `expert.${weight}`, [256, hidden], rand, 0.004 * (1 + 2 * depth)));
      }
    }
  }
  const all = [...special, ...tensors];
  if (options.spectra) addSpectra(all, rand);
  return {
    schema: 'checkpoint-surgeon/diff@1',
    a: { path: `/models/base-${HOSTILE.img}` },
    b: { path: '/models/instruct', hubId: 'example-org/instruct@main' },
    tensors: all,
    layers: layerCells(all),
    tokenizer: {
      vocabSize: { a: 32000, b: 32002 },
      addedTokens: {
        onlyInA: [],
        onlyInB: [
          { id: 32000, content: '<|im_start|>', special: true },
          { id: 32001, content: HOSTILE.img, special: true },
          { id: 32002, content: HOSTILE.bidi, special: false },
        ],
        changed: [{ id: 2, a: { id: 2, content: '</s>', special: true }, b: { id: 2, content: HOSTILE.script, special: true } }],
      },
      specialTokens: [{ key: 'eos_token', a: '</s>', b: '<|im_end|>' }, { key: 'pad_token', a: null, b: HOSTILE.img }],
      chatTemplate: {
        a: false, b: true, changed: true,
        diff: [
          { op: 'added', text: "{{ bos_token }}{% for message in messages %}" },
          { op: 'added', text: "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' }}" },
          { op: 'added', text: HOSTILE.script },
          { op: 'added', text: '{% endfor %}' },
        ],
      },
      changes: [{ key: 'legacy', a: true, b: false }],
      merges: { a: 61249, b: 61249 },
    },
    config: {
      changed: [{ key: 'vocab_size', a: 32000, b: 32002 }, { key: HOSTILE.img, a: null, b: HOSTILE.bidi }],
      verdict: 'compatible',
      reasons: ['Same architecture (MixtralForCausalLM), hidden size and layer count.'],
    },
    summary: summary(all),
    ...(options.spectra ? { spectraProvider: SPECTRA_PROVIDER } : {}),
  };
}

function layerCells(tensors) {
  const cells = new Map();
  for (const t of tensors) {
    if (t.deltaNorm === undefined) continue;
    const key = `${t.layer}|${t.module}`;
    const cell = cells.get(key) ?? { layer: t.layer, module: t.module, d: 0, b: 0, tensors: 0 };
    cell.d += t.deltaNorm ** 2;
    cell.b += t.baseNorm ** 2;
    cell.tensors += 1;
    cells.set(key, cell);
  }
  // As the engine sorts them (src/shared/report-summary.ts): by layer, outside the layers last, then module name.
  const order = (layer) => (layer === null ? Infinity : layer);
  return [...cells.values()].sort((x, y) => order(x.layer) - order(y.layer) || (x.module < y.module ? -1 : x.module > y.module ? 1 : 0)).map((c) => ({
    layer: c.layer, module: c.module, deltaNorm: Math.sqrt(c.d), baseNorm: Math.sqrt(c.b),
    relativeNorm: c.b > 0 ? Math.sqrt(c.d / c.b) : null, tensors: c.tensors,
  }));
}

function summary(tensors) {
  const counts = { changed: 0, unchanged: 0, 'shape-mismatch': 0, 'dtype-mismatch': 0, 'only-in-a': 0, 'only-in-b': 0 };
  let changedParameters = 0;
  let compared = 0;
  let d = 0;
  let b = 0;
  for (const t of tensors) {
    counts[t.status] += 1;
    if (t.elements === undefined) continue;
    compared += t.elements;
    // As src/shared/report-summary.ts counts them: every element of a changed tensor.
    if (t.status === 'changed') changedParameters += t.elements;
    d += t.deltaNorm ** 2;
    b += t.baseNorm ** 2;
  }
  const mostChanged = tensors.filter((t) => typeof t.relativeNorm === 'number')
    .sort((x, y) => y.relativeNorm - x.relativeNorm).slice(0, 10).map((t) => ({ name: t.name, relativeNorm: t.relativeNorm }));
  return { counts, parametersChanged: changedParameters, parametersCompared: compared, globalRelativeNorm: Math.sqrt(d / b), mostChanged };
}
