/**
 * Generates Llama-like checkpoints inside the test workspace (the runner opens an empty temp
 * folder), with the shared test helper, so the suite works on real files of known content.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { llamaLikeTensors, writeCheckpoint, type LlamaDtype } from '../helpers/make-checkpoint';

export function workspaceRoot(): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (folder === undefined) throw new Error('The extension tests need a workspace folder.');
  return folder.uri.fsPath;
}

export interface GeneratedCheckpoint {
  dir: string;
  tensorNames: string[];
  parameters: number;
}

export interface CheckpointSpec {
  name: string;
  layers: number;
  hidden: number;
  vocab: number;
  dtype: LlamaDtype;
  seed: number;
  intermediate?: number;
  shardSize?: number;
}

export async function makeCheckpoint(spec: CheckpointSpec): Promise<GeneratedCheckpoint> {
  const dir = join(workspaceRoot(), spec.name);
  const tensors = llamaLikeTensors({
    layers: spec.layers, hidden: spec.hidden, vocab: spec.vocab, dtype: spec.dtype, tied: false, seed: spec.seed,
    ...(spec.intermediate === undefined ? {} : { intermediate: spec.intermediate }),
  });
  if (!existsSync(dir)) {
    await writeCheckpoint(dir, tensors, {
      ...(spec.shardSize === undefined ? {} : { shardSize: spec.shardSize }),
      config: {
        architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: spec.hidden,
        num_hidden_layers: spec.layers, vocab_size: spec.vocab, tie_word_embeddings: false,
        intermediate_size: spec.intermediate ?? 2 * spec.hidden,
        torch_dtype: spec.dtype === 'F32' ? 'float32' : spec.dtype === 'BF16' ? 'bfloat16' : 'float16',
      },
    });
  }
  return {
    dir,
    tensorNames: tensors.map((t) => t.name),
    parameters: tensors.reduce((sum, t) => sum + t.shape.reduce((p, d) => p * d, 1), 0),
  };
}

/** A small base/instruct pair with vocabulary growth (64 -> 72 tokens), as instruct tuning adds chat tokens. */
export function smallPair(prefix: string): Promise<[GeneratedCheckpoint, GeneratedCheckpoint]> {
  return Promise.all([
    makeCheckpoint({ name: `${prefix}-base`, layers: 2, hidden: 32, vocab: 64, dtype: 'BF16', seed: 1 }),
    makeCheckpoint({ name: `${prefix}-instruct`, layers: 2, hidden: 32, vocab: 72, dtype: 'BF16', seed: 2 }),
  ]);
}

/** Reads a safetensors header (8-byte length + JSON) to check what a job wrote. */
export async function readHeader(file: string): Promise<Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>> {
  const { open } = await import('node:fs/promises');
  const handle = await open(file, 'r');
  try {
    const length = Buffer.alloc(8);
    await handle.read(length, 0, 8, 0);
    const headerLength = Number(length.readBigUInt64LE(0));
    const header = Buffer.alloc(headerLength);
    await handle.read(header, 0, headerLength, 8);
    const parsed = JSON.parse(header.toString('utf8')) as Record<string, unknown>;
    delete parsed.__metadata__;
    return parsed as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  } finally {
    await handle.close();
  }
}

/** Why a command ended without a result, as the extension's API reports it. */
export interface CommandFailure {
  command: string;
  message: string;
  rule?: string;
  cancelled: boolean;
}

export interface ExtensionApi {
  jobState(): { running: string[]; queued: string[] };
  onDidChangeJobState: vscode.Event<{ running: string[]; queued: string[] }>;
  openReports(): ReadonlyArray<{ title: string; hasReport: boolean }>;
  openVerifyViews(): ReadonlyArray<{ title: string; ok: boolean; html: string }>;
  lastFailure(): CommandFailure | undefined;
}

export async function extensionApi(): Promise<ExtensionApi> {
  const extension = vscode.extensions.getExtension('checkpoint-surgeon.checkpoint-surgeon');
  if (extension === undefined) throw new Error('The extension is not installed in this VS Code.');
  return extension.activate();
}

/**
 * Runs a command that must end without a result: it resolves to undefined (it never rejects, so VS Code
 * adds no modal of its own) and the failure it showed is the API's last one.
 */
export async function commandFailure(command: string, ...args: unknown[]): Promise<CommandFailure> {
  const api = await extensionApi();
  const before = api.lastFailure();
  const result = await vscode.commands.executeCommand(command, ...args);
  assert.equal(result, undefined, `${command} returned a result instead of failing`);
  const failure = api.lastFailure();
  assert.ok(failure !== undefined && failure !== before, `${command} recorded no failure`);
  return failure;
}
