/**
 * Deterministic standard normal numbers, so the same matrix and seed always give the same
 * singular values (reports are reproducible and tests are stable). Uniforms come from
 * SplitMix32-style mixing of a Weyl sequence; normals from the Box-Muller transform.
 */
function createSeededGaussian(seed: number): () => number {
  let state = seed >>> 0;
  const nextUniform = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z = (z ^ (z >>> 16)) >>> 0;
    // (z + 0.5) / 2^32 is never 0, so the logarithm below is finite.
    return (z + 0.5) / 4294967296;
  };
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    const radius = Math.sqrt(-2 * Math.log(nextUniform()));
    const angle = 2 * Math.PI * nextUniform();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}

/** A rows x cols float32 matrix of independent standard normal entries. */
export function seededGaussianMatrix(rows: number, cols: number, seed: number): Float32Array {
  const next = createSeededGaussian(seed);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < out.length; i++) out[i] = next();
  return out;
}
