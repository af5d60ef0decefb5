/**
 * Singular values shaped like those of an instruction residual: a slowly decaying power law
 * (s_i ~ i^-alpha) under a noise bulk, the quarter-circle law of the singular values of a square
 * Gaussian matrix, which holds the share `noiseShare` of the energy. Descending, `count` of them.
 */
export function residualLikeSpectrum(count: number, alpha: number, noiseShare: number): number[] {
  const signal = Array.from({ length: count }, (_, i) => (1 + i) ** -alpha);
  const noise = quarterCircleQuantiles(count);
  const energy = (values: readonly number[]) => values.reduce((sum, value) => sum + value * value, 0);
  const scale = noiseShare === 0 ? 0 : Math.sqrt((energy(signal) * noiseShare) / ((1 - noiseShare) * energy(noise)));
  return signal.map((value, i) => Math.hypot(value, scale * noise[i]!)).sort((x, y) => y - x);
}

/** sqrt(sum_{i>rank} s_i^2): the Frobenius error of the best rank-`rank` approximation (Eckart and Young). */
export function eckartYoungError(spectrum: readonly number[], rank: number): number {
  return Math.sqrt(spectrum.slice(rank).reduce((sum, value) => sum + value * value, 0));
}

/** The `count` quantiles (i + 1/2) / count of the density sqrt(4 - x^2) / pi on [0, 2], descending. */
function quarterCircleQuantiles(count: number): number[] {
  const steps = 20_000;
  const cumulative = new Float64Array(steps + 1);
  for (let step = 1; step <= steps; step++) {
    const x = (2 * (step - 0.5)) / steps;
    cumulative[step] = cumulative[step - 1]! + (Math.sqrt(4 - x * x) / Math.PI) * (2 / steps);
  }
  const total = cumulative[steps]!;
  const quantiles: number[] = [];
  let step = 0;
  for (let i = 0; i < count; i++) {
    const target = ((i + 0.5) / count) * total;
    while (cumulative[step]! < target) step++;
    quantiles.push((2 * step) / steps);
  }
  return quantiles.reverse();
}
