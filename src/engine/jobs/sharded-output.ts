import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DEFAULT_METADATA, INDEX_FILE_NAME, encodeIndex, planShards, type PlannedTensor, type ShardPlan,
} from '../format/safetensors-writer';
import { OutputFile } from '../io/output-file';
import type { OutputFile as OutputFileRecord } from '../../shared/jobs';

export interface TensorLocation {
  file: OutputFile;
  /** Absolute position of the tensor's data in its shard. */
  offset: number;
}

/**
 * The weights of an output checkpoint: shards planned from the tensors' headers alone, so every
 * tensor's position is known before its data streams; each file is written front to back.
 */
export class ShardedOutput {
  private constructor(
    private readonly dir: string,
    private readonly plans: ShardPlan[],
    private readonly files: OutputFile[],
    private readonly locations: Map<string, TensorLocation>,
  ) {}

  static async create(dir: string, tensors: readonly PlannedTensor[], maxShardBytes: number, metadata: Record<string, string> = { ...DEFAULT_METADATA }): Promise<ShardedOutput> {
    const plans = planShards(tensors, maxShardBytes, metadata);
    const files: OutputFile[] = [];
    const locations = new Map<string, TensorLocation>();
    try {
      for (const plan of plans) {
        const file = await OutputFile.create(join(dir, plan.fileName), plan.header, plan.header.byteLength + plan.dataBytes);
        files.push(file);
        plan.tensors.forEach((tensor, index) => {
          locations.set(tensor.name, { file, offset: plan.header.byteLength + plan.offsets[index]![0] });
        });
      }
    } catch (error) {
      await Promise.all(files.map((file) => file.discard()));
      throw error;
    }
    return new ShardedOutput(dir, plans, files, locations);
  }

  /** No weights files: the job writes its weights itself (WritePlan.writesOwnWeights). */
  static none(dir: string): ShardedOutput {
    return new ShardedOutput(dir, [], [], new Map());
  }

  locate(name: string): TensorLocation {
    const location = this.locations.get(name);
    if (!location) throw new Error(`no output location was planned for ${JSON.stringify(name)}`);
    return location;
  }

  /** Closes (and syncs) every shard and writes the index when there is more than one. */
  async finish(): Promise<OutputFileRecord[]> {
    await Promise.all(this.files.map((file) => file.close()));
    const { files, index } = outputFiles(this.plans);
    if (index !== undefined) await writeFile(join(this.dir, INDEX_FILE_NAME), index);
    return files;
  }

  async discard(): Promise<void> {
    await Promise.all(this.files.map((file) => file.discard()));
  }
}

/** The files of an output laid out by `plans`, with their sizes, and the index text when there is more than one shard. */
export function outputFiles(plans: readonly ShardPlan[]): { files: OutputFileRecord[]; index: string | undefined } {
  const files: OutputFileRecord[] = plans.map((plan) => ({ file: plan.fileName, bytes: plan.header.byteLength + plan.dataBytes }));
  if (plans.length <= 1) return { files, index: undefined };
  const index = encodeIndex(plans, plans.reduce((sum, plan) => sum + plan.dataBytes, 0));
  files.push({ file: INDEX_FILE_NAME, bytes: Buffer.byteLength(index) });
  return { files, index };
}
