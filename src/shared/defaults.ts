/**
 * Defaults that the engine, the CLI and the extension's settings share. They live here, away from
 * the code that uses them, so that a host reading a setting does not bundle that code: the
 * extension host reads `diff.spectraRank` but runs no spectral pass (the worker does).
 */

/**
 * Singular values per matrix unless the caller asks otherwise: enough for the energy at ranks 8,
 * 16 and 64, and a tenth of the work of the 256 the energy at rank 256 would need.
 */
export const DEFAULT_SPECTRA_PASS_RANK = 64;
/**
 * Largest rank a caller may ask for. The f64 orthonormalisation grows with the square of the rank
 * and the small eigenproblem with its cube: at 256 a 4096 x 4096 matrix takes about 1.7 s on 2
 * cores (onnxruntime-node) against 0.5 s at 64, and past 1024 the pass would take hours on a 7B model.
 */
export const MAX_SPECTRA_PASS_RANK = 1024;

/** Largest shard a job writes: the Hugging Face default (`max_shard_size="5GB"`), decimal. package.json's setting says the same (a test checks). */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

/** The rank of every matrix of a LoRA export unless the user picks one: PEFT users' common choice for full fine-tunes. */
export const DEFAULT_LORA_RANK = 64;

/** The cap of `--energy`'s ranks unless the user sets `--max-rank`: mergekit-extract-lora's default. */
export const DEFAULT_LORA_MAX_RANK = 128;

/** Largest rank of a LoRA export: past it an adapter is no smaller than the matrices of a 7B model. */
export const MAX_LORA_RANK = 4096;
