/**
 * A first-fit allocator over the WebAssembly memory above HEAP_ADDRESS. The pipeline allocates a few
 * buffers per job and frees them at the end, so a sorted free list with coalescing is plenty.
 */
import { SurgeonError } from '../errors';
import { HEAP_ADDRESS, MAX_WASM_PAGES, WASM_PAGE_BYTES } from './wasm-layout';

/** Buffers start on cache-line boundaries: every dtype is aligned and no two buffers share a line. */
const HEAP_ALIGNMENT = 64;

interface Range {
  address: number;
  size: number;
}

export class WasmHeap {
  private readonly free: Range[] = [];
  private readonly used = new Map<number, number>();
  private top = HEAP_ADDRESS;

  constructor(private readonly memory: WebAssembly.Memory) {}

  /** The address of `byteLength` zeroed bytes; grows the memory when needed (detaching old views). */
  allocate(byteLength: number): number {
    const size = Math.max(HEAP_ALIGNMENT, Math.ceil(byteLength / HEAP_ALIGNMENT) * HEAP_ALIGNMENT);
    const index = this.free.findIndex((range) => range.size >= size);
    let address: number;
    if (index >= 0) {
      const range = this.free[index]!;
      address = range.address;
      if (range.size === size) this.free.splice(index, 1);
      else this.free[index] = { address: address + size, size: range.size - size };
      new Uint8Array(this.memory.buffer, address, size).fill(0);
    } else {
      address = this.top;
      this.ensureCapacity(address + size);
      this.top += size;
    }
    this.used.set(address, size);
    return address;
  }

  release(address: number): void {
    const size = this.used.get(address);
    if (size === undefined) throw new SurgeonError('usage', `no kernel buffer at address ${address} (freed twice?)`);
    this.used.delete(address);
    let position = this.free.findIndex((range) => range.address > address);
    if (position < 0) position = this.free.length;
    this.free.splice(position, 0, { address, size });
    this.coalesce(position);
  }

  isAllocated(address: number): boolean {
    return this.used.has(address);
  }

  private coalesce(position: number): void {
    const next = this.free[position + 1];
    const current = this.free[position]!;
    if (next !== undefined && current.address + current.size === next.address) {
      current.size += next.size;
      this.free.splice(position + 1, 1);
    }
    const previous = this.free[position - 1];
    if (previous !== undefined && previous.address + previous.size === current.address) {
      previous.size += current.size;
      this.free.splice(position, 1);
    }
    // A free range at the top goes back to the bump region (memory itself never shrinks in WebAssembly).
    const last = this.free[this.free.length - 1];
    if (last !== undefined && last.address + last.size === this.top) {
      this.top = last.address;
      this.free.pop();
      // Fresh memory from the bump region must read as zero again.
      new Uint8Array(this.memory.buffer, last.address, last.size).fill(0);
    }
  }

  private ensureCapacity(end: number): void {
    growMemoryTo(this.memory, end, { user: 'kernel buffers', memory: 'kernel memory' });
  }
}

/**
 * Grows `memory` to hold `end` bytes, when it does not yet; refuses past WebAssembly's 4 GiB or when the
 * engine will not grow it, naming `user` (what needs the bytes) and `memory` in the message.
 */
export function growMemoryTo(memory: WebAssembly.Memory, end: number, names: { user: string; memory: string }): void {
  const pages = Math.ceil(end / WASM_PAGE_BYTES);
  const current = memory.buffer.byteLength / WASM_PAGE_BYTES;
  if (pages <= current) return;
  if (pages > MAX_WASM_PAGES) {
    throw new SurgeonError('kernel-memory', `${names.user} would need ${end} bytes, more than WebAssembly's 4 GiB`);
  }
  try {
    memory.grow(pages - current);
  } catch (error) {
    throw new SurgeonError('kernel-memory', `could not grow ${names.memory} to ${end} bytes: ${String(error)}`);
  }
}
