import type { Dtype } from '../format/dtype';
import type { SafetensorsHeader } from '../format/safetensors-header';

/** One safetensors file of a checkpoint, with the size and mtime seen when its header was read. */
export interface CheckpointFile {
  path: string;
  /** The file name inside the checkpoint folder. */
  name: string;
  size: number;
  mtimeMs: number;
  header: SafetensorsHeader;
}

export interface TensorRef {
  name: string;
  dtype: Dtype;
  shape: number[];
  file: CheckpointFile;
  /** Absolute byte offset of the tensor's data in its file. */
  offset: number;
  byteLength: number;
  elementCount: number;
}

/**
 * `single`: a folder with one weights file; `sharded`: an index and its shards;
 * `file`: the user named one .safetensors file (no config or side files are read then).
 */
export type CheckpointLayout = 'single' | 'sharded' | 'file';

export interface Checkpoint {
  /** The folder holding the weights. */
  root: string;
  layout: CheckpointLayout;
  files: CheckpointFile[];
  /** In file order, then offset order. */
  tensors: Map<string, TensorRef>;
  indexPath?: string;
  config?: Record<string, unknown>;
  generationConfig?: Record<string, unknown>;
  /** Names of the known side files present in the folder (tokenizer files, chat template, ...). */
  sideFiles: string[];
  /**
   * Weight files the checkpoint names but that hold no weights here (Git LFS pointers, shards not
   * downloaded, a folder of configs alone). Only opened with `weights: 'optional'`; `tensors` then
   * holds the tensors of the files that are present.
   */
  missingWeights?: MissingWeightFile[];
  /** tensor name -> shard file name, as the index lists them (sharded checkpoints only). */
  indexedTensors?: Map<string, string>;
  /** Where the checkpoint came from when it was resolved from the Hugging Face cache (or downloaded into it). */
  hub?: { repo: string; revision: string; commit: string };
  /** The absolute path the checkpoint was opened from (a folder, file or index). */
  source?: string;
}

/** A weight file that is not there to read: why, in a rule and in words. */
export interface MissingWeightFile {
  /** File name inside the checkpoint folder ('' for a folder that holds no weights file at all). */
  file: string;
  reason: 'lfs-pointer' | 'missing' | 'no-weights';
  message: string;
}
