import type { TensorRef } from '../checkpoint/checkpoint-types';
import { bytesPerElement, type Dtype } from '../format/dtype';
import { cancelledError, SurgeonError } from '../errors';
import type { ElementwiseKernels, KernelBuffer } from '../kernels/kernels';
import { INPUT_READ_SLACK, InputFiles } from '../io/input-files';
import type { OutputFile } from '../io/output-file';
import type { JobCallbacks, JobProgress } from '../../shared/jobs';

/**
 * Bytes per operand piece. 1 MiB pieces with a few in flight were fastest here (performance.md):
 * smaller pieces pay per-call overhead, larger ones fall out of the CPU caches.
 */
const PIECE_BYTES = 1024 * 1024;

/** Bytes of binary32 scratch that hold any piece's elements dequantized (a piece has at most PIECE_BYTES / 4 elements). */
export const PIECE_SCRATCH_BYTES = PIECE_BYTES;

/** Pieces read ahead of the kernel and written behind it. */
const PIECES_IN_FLIGHT = 4;

/**
 * One input of a tensor operation. Elements past `presentElements` read as zeros: that is how a
 * smaller vocabulary is grown to the larger one (zero rows appended, never truncated).
 */
export interface StreamOperand {
  ref: TensorRef | undefined;
  dtype: Dtype;
  presentElements: number;
}

/**
 * Reads all of `ref`; in a task of more elements the rest reads as zeros. A pair's smaller side under
 * vocabulary growth has rows of the result's size, only fewer: this appends its zero rows.
 */
export function streamOperand(ref: TensorRef): StreamOperand {
  return { ref, dtype: ref.dtype, presentElements: ref.elementCount };
}

export interface StreamOutput {
  file: OutputFile;
  /** Absolute position of the tensor's data in the output file. */
  offset: number;
  dtype: Dtype;
}

export interface StreamTask<T> {
  name: string;
  elements: number;
  operands: StreamOperand[];
  output?: StreamOutput;
  context: T;
}

export interface StreamPiece<T> {
  task: StreamTask<T>;
  /** Element index of the piece's first element within the tensor. */
  start: number;
  count: number;
  /** One kernel buffer per operand, filled with the piece's elements from `start`. */
  inputs: KernelBuffer[];
  /** Where the kernel writes the output piece, when the task has an output. */
  output: KernelBuffer;
}

export interface StreamHandlers<T> {
  /**
   * Runs the kernel over one piece; the pipeline writes `output` afterwards when the task has one. A handler that
   * writes the task's output itself (in its own units: FP8 bands and their scales, jobs/fp8-output.ts) returns the
   * promise of its writes instead, which the pipeline awaits like its own before the slot is used again.
   */
  processPiece(piece: StreamPiece<T>): void | Promise<void>;
  /** Called once after a task's last piece was processed. */
  finishTask?(task: StreamTask<T>): void;
  /**
   * Loads what a task's pieces need beside their elements (the scales of FP8 operands), before its first piece is
   * processed. Only the tasks in flight are prepared at once: `releaseTask` follows each, after its last piece or
   * when the stream stops.
   */
  prepareTask?(task: StreamTask<T>): Promise<void>;
  releaseTask?(task: StreamTask<T>): void;
}

/** How a job that hashes its inputs (InputHashes) has the stream read them. */
export interface InputReading {
  /** The input files to read around the page cache. */
  direct: ReadonlySet<string>;
  /**
   * Sees every range of an input file the stream has read, in the stream's order, before the kernel
   * runs on it. A returned promise keeps the memory from being read into again until it settles.
   */
  observe(path: string, position: number, bytes: Uint8Array): Promise<void> | undefined;
}

export interface StreamOptions {
  kernels: ElementwiseKernels;
  signal?: AbortSignal;
  onProgress?(progress: JobProgress): void;
  /** Without it, the stream asks which files to read around the page cache itself. */
  inputReading?: Promise<InputReading>;
}

/** A job's stream: its kernels, its Cancel and progress, and the reading of inputs it hashes. */
export function jobStreamOptions(
  kernels: ElementwiseKernels, callbacks: Pick<JobCallbacks, 'signal' | 'onProgress'>, inputReading?: Promise<InputReading>,
): StreamOptions {
  return {
    kernels,
    ...(callbacks.signal ? { signal: callbacks.signal } : {}),
    ...(callbacks.onProgress ? { onProgress: callbacks.onProgress } : {}),
    ...(inputReading ? { inputReading } : {}),
  };
}

interface Slot {
  /** Where each operand's reads land; the piece's data is a view inside (see InputFiles.read). */
  targets: KernelBuffer[];
  /** The operands of the piece last read into this slot. */
  inputs: KernelBuffer[];
  output: KernelBuffer;
  pendingWrite: Promise<void>;
  /** Settles when whoever observes the inputs (InputReading) is done with the slot's operands. */
  observed: Promise<unknown>;
}

interface PlannedPiece<T> {
  task: StreamTask<T>;
  taskIndex: number;
  start: number;
  count: number;
  last: boolean;
}

/**
 * Streams every task's elements through the kernels in bounded pieces: reads land straight in
 * kernel memory several pieces ahead, the kernel runs in order on this thread, and each output
 * piece is written behind while later pieces are read, tensors in the order of their output
 * bytes. Memory is PIECES_IN_FLIGHT slots, whatever the model's size.
 */
export async function streamTensors<T>(
  tasks: ReadonlyArray<StreamTask<T>>,
  handlers: StreamHandlers<T>,
  options: StreamOptions,
): Promise<void> {
  const { kernels, signal } = options;
  const operandCount = Math.max(1, ...tasks.map((task) => task.operands.length));
  // At least 4 bytes: a task without an output still has the kernel write binary32 scratch.
  const widestElement = Math.max(4, ...tasks.flatMap((task) => [
    ...task.operands.map((operand) => elementBytes(operand.dtype, task.name)),
    task.output ? elementBytes(task.output.dtype, task.name) : 0,
  ]));
  const pieceElements = Math.floor(PIECE_BYTES / widestElement);
  // Inputs mostly outside the page cache are read around it (io/input-files.ts).
  const reading = await options.inputReading;
  const files = reading
    ? new InputFiles(reading.direct)
    : await InputFiles.open(tasks.flatMap((task) => task.operands.flatMap((operand) => operand.ref ? [operand.ref.file.path] : [])));
  const slots = allocateSlots(kernels, operandCount, pieceElements * widestElement);
  const bytesTotal = tasks.reduce((sum, task) => sum + taskInputBytes(task), 0);
  const progress: JobProgress = { phase: 'stream', bytesDone: 0, bytesTotal, tensorsDone: 0, tensorsTotal: tasks.length };

  // Pieces are planned as they are needed: a list of every piece would grow with the model.
  const plan = planPieces(inOutputOrder(tasks), pieceElements);
  const inFlight: Array<{ planned: PlannedPiece<T>; slot: Slot; read: Promise<void> }> = [];
  const prepared = new Set<StreamTask<T>>();
  let started = 0;
  const startRead = (): void => {
    const next = plan.next();
    if (next.done) return;
    const slot = slots[started++ % slots.length]!;
    let read = readPiece(next.value, slot, files);
    if (next.value.start === 0 && handlers.prepareTask) {
      const { task } = next.value;
      prepared.add(task);
      read = Promise.all([handlers.prepareTask(task), read]).then(() => undefined);
    }
    read.catch(() => undefined); // Awaited in order below; a failure ahead of the cursor must not go unhandled.
    inFlight.push({ planned: next.value, slot, read });
  };

  try {
    for (let index = 0; index < slots.length; index++) startRead();
    while (inFlight.length > 0) {
      if (signal?.aborted) throw cancelledError();
      const { planned, slot, read } = inFlight[0]!;
      await read;
      inFlight.shift();
      if (reading) slot.observed = observeInputs(planned, slot, reading);
      await slot.pendingWrite;
      const piece: StreamPiece<T> = { task: planned.task, start: planned.start, count: planned.count, inputs: slot.inputs, output: slot.output };
      const written = handlers.processPiece(piece);
      const output = planned.task.output;
      if (written) {
        slot.pendingWrite = written;
        slot.pendingWrite.catch(() => undefined);
      } else if (output) {
        const bytes = elementBytes(output.dtype, planned.task.name);
        slot.pendingWrite = output.file.write(slot.output.bytes.subarray(0, planned.count * bytes), output.offset + planned.start * bytes);
        slot.pendingWrite.catch(() => undefined);
      }
      startRead();
      progress.bytesDone += pieceInputBytes(planned);
      if (planned.last) {
        handlers.finishTask?.(planned.task);
        if (prepared.delete(planned.task)) handlers.releaseTask?.(planned.task);
        progress.tensorsDone++;
        progress.tensor = planned.task.name;
      }
      options.onProgress?.(progress);
    }
    await Promise.all(slots.map((slot) => slot.pendingWrite));
  } finally {
    await Promise.allSettled(inFlight.map((piece) => piece.read));
    await Promise.allSettled(slots.flatMap((slot) => [slot.pendingWrite, slot.observed]));
    for (const task of prepared) handlers.releaseTask?.(task);
    await files.closeAll();
    freeSlots(kernels, slots);
  }
}

/**
 * Tasks with an output in the order of their bytes in it, file by file, since output files are
 * written front to back; the tasks without one keep their order, after them.
 */
function inOutputOrder<T>(tasks: ReadonlyArray<StreamTask<T>>): ReadonlyArray<StreamTask<T>> {
  const writing = tasks.filter((task) => task.output);
  if (writing.length === 0) return tasks;
  const position = (task: StreamTask<T>): [string, number] => [task.output!.file.path, task.output!.offset];
  writing.sort((x, y) => {
    const [xPath, xOffset] = position(x);
    const [yPath, yOffset] = position(y);
    return xPath < yPath ? -1 : xPath > yPath ? 1 : xOffset - yOffset;
  });
  return [...writing, ...tasks.filter((task) => !task.output)];
}

function* planPieces<T>(tasks: ReadonlyArray<StreamTask<T>>, pieceElements: number): Generator<PlannedPiece<T>> {
  for (const [taskIndex, task] of tasks.entries()) {
    if (task.elements === 0) {
      yield { task, taskIndex, start: 0, count: 0, last: true };
      continue;
    }
    for (let start = 0; start < task.elements; start += pieceElements) {
      const count = Math.min(pieceElements, task.elements - start);
      yield { task, taskIndex, start, count, last: start + count >= task.elements };
    }
  }
}

async function readPiece<T>(piece: PlannedPiece<T>, slot: Slot, files: InputFiles): Promise<void> {
  await slot.observed;
  await Promise.all(piece.task.operands.map(async (operand, index) => {
    const target = slot.targets[index]!;
    const size = elementBytes(operand.dtype, piece.task.name);
    const presentCount = presentInPiece(operand, piece);
    const input = presentCount > 0 && operand.ref
      ? await files.read(operand.ref.file.path, operand.ref.name, target, operand.ref.offset + piece.start * size, presentCount * size)
      : target;
    // After the read: a direct read fills whole blocks, past the data.
    if (presentCount < piece.count) input.bytes.fill(0, presentCount * size, piece.count * size);
    slot.inputs[index] = input;
  }));
}

/** Shows the observer the file bytes of each operand of the piece just read into `slot`. */
function observeInputs<T>(piece: PlannedPiece<T>, slot: Slot, reading: InputReading): Promise<unknown> {
  const holds: Array<Promise<void>> = [];
  piece.task.operands.forEach((operand, index) => {
    const size = elementBytes(operand.dtype, piece.task.name);
    const presentCount = presentInPiece(operand, piece);
    if (presentCount === 0 || !operand.ref) return;
    const hold = reading.observe(operand.ref.file.path, operand.ref.offset + piece.start * size, slot.inputs[index]!.bytes.subarray(0, presentCount * size));
    if (hold) holds.push(hold);
  });
  const observed = Promise.all(holds);
  observed.catch(() => undefined); // Awaited before the slot's next read and at the end.
  return observed;
}

/** All buffers are allocated once, before the first read: the stream's memory is fixed, whatever the model's size. */
function allocateSlots(kernels: ElementwiseKernels, operandCount: number, bytes: number): Slot[] {
  return Array.from({ length: PIECES_IN_FLIGHT }, () => {
    const targets = Array.from({ length: operandCount }, () => kernels.allocate(bytes + INPUT_READ_SLACK));
    return { targets, inputs: [...targets], output: kernels.allocate(bytes), pendingWrite: Promise.resolve(), observed: Promise.resolve() };
  });
}

/** Returns the slots' memory to the kernels. */
function freeSlots(kernels: ElementwiseKernels, slots: readonly Slot[]): void {
  for (const slot of slots) {
    for (const buffer of [...slot.targets, slot.output]) kernels.free(buffer);
  }
}

function taskInputBytes<T>(task: StreamTask<T>): number {
  return task.operands.reduce((sum, operand) =>
    sum + (operand.ref ? Math.min(operand.presentElements, task.elements) * elementBytes(operand.dtype, task.name) : 0), 0);
}

function pieceInputBytes<T>(piece: PlannedPiece<T>): number {
  return piece.task.operands.reduce((sum, operand) => {
    return sum + presentInPiece(operand, piece) * elementBytes(operand.dtype, piece.task.name);
  }, 0);
}

/** Elements of the piece that come from the operand's file; the rest read as zeros. */
function presentInPiece(operand: StreamOperand, piece: { start: number; count: number }): number {
  return operand.ref ? Math.max(0, Math.min(piece.count, operand.presentElements - piece.start)) : 0;
}

function elementBytes(dtype: Dtype, tensor: string): number {
  const bytes = bytesPerElement(dtype);
  if (bytes === undefined) throw new SurgeonError('dtype-mismatch', `${dtype} tensors are not byte-aligned and cannot be streamed`, undefined, tensor);
  return bytes;
}

