import { Command, CommanderError, Option } from 'commander';
import { isSurgeonError } from '../engine/errors';
import { runApply, runCard, runCompute, runDiff, runInspect, runLora, runVerify } from '../engine/jobs';
import { PlanRefusal } from '../engine/jobs/plan-error';
import { listCachedModels } from '../engine/hub/hub-cache';
import { downloadCheckpoint } from '../engine/hub/hub-download';
import { pushToHub } from '../engine/hub/hub-push';
import { TOOL_NAME, TOOL_VERSION } from '../engine/version';
import {
  DEFAULT_RESIDUAL_DTYPE, LORA_DTYPES, LORA_EMBEDDINGS, OUTPUT_DTYPES, RESIDUAL_DTYPES,
  type ErrorResult, type JobCallbacks, type JobProgress, type JobResult, type LoraDtype, type LoraEmbeddings, type OutputDtype, type ResidualDtype,
  type SpectraBackendPreference,
} from '../shared/jobs';
import { loadMatrixBackend, type LoadedMatrixBackend } from '../spectra-backends/load-matrix-backend';
import { parseScale, parseShare, parseSize, parseWholeNumber } from './parse-size';
import { createProgressBar } from './progress-bar';
import { processIo, progressTerminal, type CliIo } from './cli-io';
import { DEFAULT_LORA_MAX_RANK, DEFAULT_LORA_RANK, DEFAULT_MAX_SHARD_BYTES } from '../shared/defaults';
import { describeResult } from './describe-result';
import { DEFAULT_SPECTRA_TOP } from './describe/diff-text';

/** Exit codes: 0 success, 1 a refusal or a failed verification, 2 bad usage, 130 interrupted. */
const EXIT_REFUSED = 1;
const EXIT_USAGE = 2;
const EXIT_INTERRUPTED = 130;

interface CommonFlags {
  json?: boolean;
  download?: boolean;
  /** inspect: every tensor on its own line. */
  all?: boolean;
  /** diff: spectra rows to print. */
  top?: number;
}

const SPECTRA_BACKENDS: SpectraBackendPreference[] = ['auto', 'ort', 'js'];

/** The CLI may load onnxruntime-node; what runs the spectra goes to stderr, so that --json stays clean. */
async function loadSpectraBackendLoudly(preference: SpectraBackendPreference, io: CliIo): Promise<LoadedMatrixBackend> {
  const loaded = await loadMatrixBackend(preference);
  io.stderr(`${loaded.message}\n`);
  return loaded;
}

function buildProgram(io: CliIo, run: (label: string, flags: CommonFlags, job: (callbacks: JobCallbacks) => Promise<JobResult>) => Promise<void>): Command {
  const program = new Command(TOOL_NAME)
    .description('Instruction residuals for LLM checkpoints: R = instruct - base, applied as cpt + alpha * R. Streaming, bit-exact.')
    .version(TOOL_VERSION)
    .showHelpAfterError()
    .exitOverride()
    // Before the subcommands, which copy it: usage errors, help and the version go through io too.
    .configureOutput({ writeOut: (text) => io.stdout(text), writeErr: (text) => io.stderr(text) });

  program.command('compute')
    .description('compute the instruction residual R = instruct - base')
    .requiredOption('--base <checkpoint>', 'the base model (folder, .safetensors file, or Hub id in the local cache)')
    .requiredOption('--instruct <checkpoint>', 'the instruction-tuned model of the same family')
    .requiredOption('--out <folder>', 'the residual folder to write')
    .addOption(new Option('--dtype <dtype>', 'residual dtype: auto (per tensor the narrowest exact one: f32 for bf16/f16 weights, f64 for f32 weights), f32, f64, same (the instruct tensor\'s: half the size of f32 for bf16/f16 models, not exact), bf16 or f16').choices(RESIDUAL_DTYPES).default(DEFAULT_RESIDUAL_DTYPE))
    .option('--shard-size <size>', 'largest shard, in bytes or with a unit (500MB, 5GB)', parseSize, DEFAULT_MAX_SHARD_BYTES)
    .option('--force', 'go on although the configs belong to different families or tensors are missing')
    .option('--overwrite', 'replace an earlier output of this tool (an empty folder needs no flag; other folders and files are never replaced)')
    .option('--dry-run', 'check both checkpoints and plan the output, reading headers only; write nothing')
    .option('--no-stats', 'skip the per-tensor statistics (norms, cosine, histogram); the report then lists shapes and dtypes only')
    .option('--download', 'fetch Hub ids that are not in the local cache into it first')
    .option('--json', 'print one JSON result object to stdout')
    .action((flags: { base: string; instruct: string; out: string; dtype: ResidualDtype; shardSize: number; force?: boolean; overwrite?: boolean; stats: boolean; dryRun?: boolean } & CommonFlags) =>
      run('compute', flags, (callbacks) => runCompute({
        base: flags.base, instruct: flags.instruct, out: flags.out, dtype: flags.dtype, shardSize: flags.shardSize,
        force: flags.force === true, overwrite: flags.overwrite === true, statistics: flags.stats, dryRun: flags.dryRun === true,
      }, callbacks)));

  program.command('apply')
    .description('apply a residual or merge a LoRA adapter: M = base + scale * R')
    .requiredOption('--base <checkpoint>', 'the checkpoint to apply to (e.g. a continued-pretraining base)')
    .requiredOption('--residual <checkpoint>', 'the residual folder, or a PEFT LoRA adapter folder (merged as W + scale * scaling * (B @ A))')
    .requiredOption('--out <folder>', 'the model folder to write')
    .option('--scale <alpha>', 'the residual\'s weight alpha', parseScale, 1)
    .option('--include <regex>', 'apply only to tensors whose names match')
    .option('--exclude <regex>', 'copy tensors whose names match unchanged')
    .addOption(new Option('--dtype <dtype>', 'output dtype: same (the base tensor\'s; an FP8 base\'s FP8 weights are written as bf16), f64, f32, bf16, f16, or fp8 (an FP8 base\'s FP8 weights re-quantized to E4M3 with fresh 128 x 128 block scales)').choices(OUTPUT_DTYPES).default('same'))
    .option('--shard-size <size>', 'largest shard, in bytes or with a unit (500MB, 5GB)', parseSize, DEFAULT_MAX_SHARD_BYTES)
    .option('--force', 'go on although the residual was computed against another family')
    .option('--overwrite', 'replace an earlier output of this tool (an empty folder needs no flag; other folders and files are never replaced)')
    .option('--dry-run', 'check both checkpoints and plan the output, reading headers only; write nothing')
    .option('--download', 'fetch Hub ids that are not in the local cache into it first')
    .option('--json', 'print one JSON result object to stdout')
    .action((flags: { base: string; residual: string; out: string; scale: number; include?: string; exclude?: string; dtype: OutputDtype; shardSize: number; force?: boolean; overwrite?: boolean; dryRun?: boolean } & CommonFlags) =>
      run('apply', flags, (callbacks) => runApply({
        base: flags.base, residual: flags.residual, out: flags.out, scale: flags.scale, dtype: flags.dtype, shardSize: flags.shardSize,
        force: flags.force === true, overwrite: flags.overwrite === true, dryRun: flags.dryRun === true,
        ...(flags.include !== undefined ? { include: flags.include } : {}), ...(flags.exclude !== undefined ? { exclude: flags.exclude } : {}),
      }, callbacks)));

  program.command('lora')
    .description('export the residual as a PEFT LoRA adapter: each linear delta factored by truncated SVD (B = U√S, A = √S Vᵀ, scaling 1)')
    .option('--base <checkpoint>', 'the base model (with --instruct)')
    .option('--instruct <checkpoint>', 'the instruction-tuned model of the same family (with --base)')
    .option('--residual <folder>', 'a residual folder written by compute, instead of --base and --instruct')
    .requiredOption('--out <folder>', 'the adapter folder to write')
    .addOption(new Option('--rank <n>', `one rank for every matrix, 1 to 4096 (default ${DEFAULT_LORA_RANK})`).argParser(parseWholeNumber).conflicts('energy'))
    .option('--energy <share>', 'per matrix, the smallest rank that captures this share of its squared Frobenius norm (0.9 or 90%)', parseShare)
    .option('--max-rank <n>', 'the largest rank --energy may choose', parseWholeNumber, DEFAULT_LORA_MAX_RANK)
    .addOption(new Option('--embeddings <mode>', 'the embedding and head deltas: left out (skip, what vLLM and llama.cpp load) or factored too (lora, PEFT\'s lora_embedding_A/B)').choices(LORA_EMBEDDINGS).default('skip'))
    .addOption(new Option('--dtype <dtype>', 'the factors\' dtype: same (the models\', bf16 for bf16 and FP8 models), bf16, f16 or f32').choices(LORA_DTYPES).default('same'))
    .addOption(new Option('--spectra-backend <backend>', 'where the SVD products run: onnxruntime-node when installed, CUDA first (auto), only there (ort), or built in (js)').choices(SPECTRA_BACKENDS).default('auto'))
    .option('--force', 'go on although the vocabulary grew (the grown tensors are left out), the configs belong to different families, or --residual is not a residual folder')
    .option('--overwrite', 'replace an earlier output of this tool (an empty folder needs no flag; other folders and files are never replaced)')
    .option('--dry-run', 'check the inputs and plan the adapter, reading headers only; write nothing')
    .option('--download', 'fetch Hub ids that are not in the local cache into it first')
    .option('--all', 'list every matrix; otherwise the 20 worst reconstructed')
    .option('--json', 'print one JSON result object to stdout')
    .action((flags: {
      base?: string; instruct?: string; residual?: string; out: string; rank?: number; energy?: number; maxRank: number;
      embeddings: LoraEmbeddings; dtype: LoraDtype; spectraBackend: SpectraBackendPreference; force?: boolean; overwrite?: boolean; dryRun?: boolean;
    } & CommonFlags) =>
      run('lora', flags, (callbacks) => runLora({
        ...(flags.base !== undefined ? { base: flags.base } : {}),
        ...(flags.instruct !== undefined ? { instruct: flags.instruct } : {}),
        ...(flags.residual !== undefined ? { residual: flags.residual } : {}),
        out: flags.out,
        ranks: flags.energy !== undefined ? { energy: flags.energy, maxRank: flags.maxRank } : { rank: flags.rank ?? DEFAULT_LORA_RANK },
        embeddings: flags.embeddings, dtype: flags.dtype, spectraBackend: flags.spectraBackend,
        force: flags.force === true, overwrite: flags.overwrite === true, dryRun: flags.dryRun === true,
      }, callbacks, { loadSpectraBackend: (preference) => loadSpectraBackendLoudly(preference, io) })));

  program.command('verify')
    .description('check that base + residual reproduces the instruct model to the bit (exit 0 if so, 1 otherwise)')
    .requiredOption('--base <checkpoint>', 'the base model')
    .requiredOption('--residual <checkpoint>', 'the residual folder')
    .requiredOption('--instruct <checkpoint>', 'the instruct model')
    .option('--download', 'fetch Hub ids that are not in the local cache into it first')
    .option('--json', 'print one JSON result object to stdout')
    .action((flags: { base: string; residual: string; instruct: string } & CommonFlags) =>
      run('verify', flags, (callbacks) => runVerify({ base: flags.base, residual: flags.residual, instruct: flags.instruct }, callbacks)));

  program.command('diff')
    .description('per-tensor statistics of B - A, tokenizer and config diffs (A alone: a residual\'s statistics)')
    .argument('<a>', 'the base (or a residual folder alone)')
    .argument('[b]', 'the instruct model or any sibling')
    .option('--download', 'fetch Hub ids that are not in the local cache into it first')
    .option('--json', 'print one JSON result object to stdout')
    .option('--spectra', 'also the spectrum of every 2-D float delta: effective rank, energy at rank 8/16/64 (and 256 with --spectra-rank 256)')
    .addOption(new Option('--spectra-backend <backend>', 'where the spectral products run: onnxruntime-node when installed (auto), only there (ort), or built in: WebAssembly SIMD, else plain JavaScript (js); implies --spectra').choices(SPECTRA_BACKENDS).default('auto').implies({ spectra: true }))
    .addOption(
      new Option('--spectra-rank <k>', 'singular values per matrix, 1 to 1024: 64 gives the energy at rank 8/16/64, 256 also at rank 256 (3 to 5 times the time; implies --spectra)')
        .argParser(parseWholeNumber)
        .default(64)
        .implies({ spectra: true }),
    )
    .option('--top <n>', 'spectra: list the N matrices with the largest delta (0 lists all)', parseWholeNumber, DEFAULT_SPECTRA_TOP)
    .action((a: string, b: string | undefined, flags: CommonFlags & { spectra?: boolean; spectraBackend: SpectraBackendPreference; spectraRank: number }) =>
      run('diff', flags, (callbacks) => runDiff(
        {
          a,
          ...(b !== undefined ? { b } : {}),
          ...(flags.spectra ? { spectra: true, spectraBackend: flags.spectraBackend, spectraRank: flags.spectraRank } : {}),
        },
        callbacks,
        { loadSpectraBackend: (preference) => loadSpectraBackendLoudly(preference, io) },
      )));

  program.command('inspect')
    .description('tensors, dtypes, shapes, parameters, shards, architecture and tokenizer, from headers alone')
    .argument('<checkpoint>', 'folder, .safetensors file, index, or Hub id in the local cache')
    .option('--download', 'fetch Hub ids that are not in the local cache into it first')
    .option('--all', 'list every tensor; big models are otherwise folded by layer and expert')
    .option('--json', 'print one JSON result object to stdout')
    .action((path: string, flags: CommonFlags) => run('inspect', flags, (callbacks) => runInspect({ path }, callbacks)));

  program.command('card')
    .description('write README.md (model card) for a folder made by compute or apply')
    .argument('<dir>', 'the residual or applied model folder')
    .option('--json', 'print one JSON result object to stdout')
    .action((dir: string, flags: CommonFlags) => run('card', flags, () => runCard({ dir })));

  program.command('pull')
    .description('download a Hub model into the standard Hugging Face cache (only safetensors, index, config and tokenizer files)')
    .argument('<id>', 'org/name[@revision]')
    .option('--json', 'print one JSON result object to stdout')
    .action((id: string, flags: CommonFlags) => run('pull', flags, async (callbacks) => {
      const downloaded = await downloadCheckpoint(id, {
        ...(callbacks.signal ? { signal: callbacks.signal } : {}),
        onProgress: (progress) => callbacks.onProgress?.({ phase: 'stream', bytesDone: progress.bytesDone, bytesTotal: progress.bytesTotal, tensorsDone: 0, tensorsTotal: 0, tensor: progress.file }),
      });
      return { kind: 'pull', repo: downloaded.repo, revision: downloaded.revision, commit: downloaded.commit, path: downloaded.path, files: downloaded.files, bytesDownloaded: downloaded.bytesDownloaded };
    }));

  program.command('push')
    .description('push a residual or applied model folder (with its model card) to the Hub; private unless --public')
    .argument('<dir>', 'the folder to push')
    .requiredOption('--repo <id>', 'org/name, or name under your own account')
    .option('--public', 'create the repository public')
    .option('--json', 'print one JSON result object to stdout')
    .action((dir: string, flags: { repo: string; public?: boolean } & CommonFlags) => run('push', flags, async (callbacks) => {
      const pushed = await pushToHub({ folder: dir, repo: flags.repo, private: flags.public !== true, ...(callbacks.signal ? { signal: callbacks.signal } : {}) });
      return { kind: 'push', repo: pushed.repo, url: pushed.url, commit: pushed.commit, created: pushed.created, files: pushed.files, bytes: pushed.bytes };
    }));

  program.command('cache')
    .description('list the models in the local Hugging Face cache')
    .option('--json', 'print one JSON result object to stdout')
    .action((flags: CommonFlags) => run('cache', flags, async () => {
      const list = await listCachedModels();
      return { kind: 'cache', cacheDir: list.cacheDir, models: list.models.map((model) => ({
        repo: model.repo, sizeOnDisk: model.sizeOnDisk,
        revisions: model.revisions.map((revision) => ({ commit: revision.commit, refs: [...revision.refs], path: revision.path })),
      })) };
    }));

  return program;
}

/**
 * Runs the CLI on `argv` (the arguments after the program's name) and resolves to its exit code.
 * Everything it prints goes through `io`: the process's streams by default, a test's buffers in tests.
 */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  // @huggingface/hub reports downloads with console.debug, which Node sends to stdout: keep stdout for --json.
  const consoleDebug = console.debug;
  console.debug = (...args: unknown[]) => io.stderr(`${args.map(String).join(' ')}\n`);
  let exitCode = 0;
  const controller = new AbortController();
  const interrupt = (): void => controller.abort();
  if (io.handleSignals) {
    process.once('SIGINT', interrupt);
    process.once('SIGTERM', interrupt);
  }
  if (io.signal?.aborted) interrupt();
  io.signal?.addEventListener('abort', interrupt, { once: true });

  const program = buildProgram(io, async (label, flags, job) => {
    const bar = createProgressBar(label, progressTerminal(io));
    const callbacks: JobCallbacks = {
      signal: controller.signal,
      onProgress: (progress: JobProgress) => bar.update(progress),
      ...(flags.download ? { allowDownload: true } : {}),
    };
    try {
      const result = await job(callbacks);
      bar.stop();
      if (flags.json) io.stdout(`${JSON.stringify(result)}\n`);
      else io.stdout(`${describeResult(result, { ...(flags.all ? { all: true } : {}), ...(flags.top !== undefined ? { top: flags.top } : {}) })}\n`);
      if (result.kind === 'verify' && !result.ok) exitCode = EXIT_REFUSED;
    } catch (error) {
      bar.stop();
      throw error;
    }
  });

  // Known before commander has parsed anything, so that a refusal of the arguments themselves is JSON too.
  const json = argv.includes('--json');
  const printError = (result: ErrorResult): void => {
    if (json) io.stdout(`${JSON.stringify(result)}\n`);
  };
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are not errors; commander already printed them.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
      printError({ kind: 'error', rule: 'usage', message: error.message.replace(/^error: /, '') });
      return EXIT_USAGE;
    }
    if (isSurgeonError(error)) {
      io.stderr(`${TOOL_NAME}: ${error.message}\n`);
      printError({
        kind: 'error', rule: error.rule, message: error.message,
        ...(error.file !== undefined ? { file: error.file } : {}),
        ...(error.tensor !== undefined ? { tensor: error.tensor } : {}),
        ...(error instanceof PlanRefusal ? { issues: error.issues } : {}),
      });
      if (error.rule === 'cancelled') return EXIT_INTERRUPTED;
      return error.rule === 'usage' ? EXIT_USAGE : EXIT_REFUSED;
    }
    io.stderr(`${TOOL_NAME}: unexpected failure: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    printError({ kind: 'error', rule: 'unexpected', message: error instanceof Error ? error.message : String(error) });
    return EXIT_REFUSED;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    io.signal?.removeEventListener('abort', interrupt);
    console.debug = consoleDebug;
  }
  return exitCode;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
