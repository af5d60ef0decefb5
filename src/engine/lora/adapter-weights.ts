import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_METADATA, encodeSafetensorsHeader, orderForWriting, tensorByteLength, type PlannedTensor } from '../format/safetensors-writer';
import { OutputFile } from '../io/output-file';
import type { OutputFile as OutputFileRecord } from '../../shared/jobs';
import { ADAPTER_WEIGHTS_FILE } from './peft-adapter';
import type { FactorDtype } from './factor-encoding';

/** Where the factors wait, in the job's own temporary folder, until their shapes are all known. */
const SPILL_FILE = '.lora-factors.spill';

/** Bytes copied from the spill into the adapter per write. */
const COPY_BYTES = 4 * 1024 * 1024;

interface SpilledTensor extends PlannedTensor {
  dtype: FactorDtype;
  /** Where its bytes are in the spill file. */
  position: number;
  byteLength: number;
}

/** adapter_model.safetensors of `tensors`: their order (the reference writer's), its header (`{"format": "pt"}`) and its size. */
export function adapterFileLayout<T extends PlannedTensor>(tensors: readonly T[]): { ordered: T[]; header: Uint8Array; size: number } {
  const ordered = orderForWriting(tensors);
  const { bytes: header } = encodeSafetensorsHeader(ordered, DEFAULT_METADATA);
  return { ordered, header, size: header.byteLength + ordered.reduce((sum, tensor) => sum + tensorByteLength(tensor), 0) };
}

/**
 * The weights of an adapter, whose shapes are known only once every rank is chosen (`--energy` picks each
 * from its matrix's spectrum): the factors go to a spill file as they are computed, so memory holds one
 * matrix's factors at a time, and `finish` writes adapter_model.safetensors from it, front to back.
 */
export class AdapterWeights {
  private readonly tensors: SpilledTensor[] = [];
  private spilled = 0;

  private constructor(private readonly dir: string, private readonly spill: FileHandle) {}

  static async create(dir: string): Promise<AdapterWeights> {
    return new AdapterWeights(dir, await open(join(dir, SPILL_FILE), 'wx+'));
  }

  async add(name: string, dtype: FactorDtype, shape: number[], bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.byteLength) {
      const { bytesWritten } = await this.spill.write(bytes, written, bytes.byteLength - written, this.spilled + written);
      written += bytesWritten;
    }
    this.tensors.push({ name, dtype, shape, position: this.spilled, byteLength: bytes.byteLength });
    this.spilled += bytes.byteLength;
  }

  /** Writes adapter_model.safetensors (the reference writer's header and order, `{"format": "pt"}`) and removes the spill. */
  async finish(): Promise<OutputFileRecord> {
    const { ordered, header, size } = adapterFileLayout(this.tensors);
    const file = await OutputFile.create(join(this.dir, ADAPTER_WEIGHTS_FILE), header, size);
    try {
      const buffer = new Uint8Array(Math.min(COPY_BYTES, Math.max(1, size)));
      let position = header.byteLength;
      for (const tensor of ordered) {
        for (let done = 0; done < tensor.byteLength;) {
          const length = Math.min(buffer.byteLength, tensor.byteLength - done);
          const { bytesRead } = await this.spill.read(buffer, 0, length, tensor.position + done);
          if (bytesRead !== length) throw new Error(`the spill file ended after ${tensor.position + done + bytesRead} bytes`);
          await file.write(buffer.subarray(0, length), position);
          position += length;
          done += length;
        }
      }
      if (ordered.length === 0) await file.write(new Uint8Array(0), header.byteLength);
      await file.close();
    } catch (error) {
      await file.discard();
      throw error;
    } finally {
      await this.discard();
    }
    return { file: ADAPTER_WEIGHTS_FILE, bytes: size };
  }

  async discard(): Promise<void> {
    await this.spill.close().catch(() => undefined);
    await rm(join(this.dir, SPILL_FILE), { force: true });
  }
}
