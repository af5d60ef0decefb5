/**
 * Git LFS pointer files: what a clone without `git lfs` leaves in place of a large file. They are
 * small text files, so a safetensors reader would otherwise report a nonsense header length.
 */
import { formatCount } from '../../shared/quantities';

const LFS_POINTER_PREFIX = 'version https://git-lfs.github.com/spec/v1';

/** The LFS specification caps pointer files at 1024 bytes; reading that much is enough to recognise one. */
const MAX_LFS_POINTER_BYTES = 1024;

export interface LfsPointer {
  /** e.g. `sha256:561656f8...` */
  oid?: string;
  /** Size in bytes of the real file the pointer stands for. */
  size?: number;
}

const PREFIX_BYTES = new TextEncoder().encode(LFS_POINTER_PREFIX);

/** True when the bytes (the start of a file) begin like a Git LFS pointer. */
export function looksLikeLfsPointer(bytes: Uint8Array): boolean {
  if (bytes.length < PREFIX_BYTES.length) return false;
  return PREFIX_BYTES.every((byte, index) => bytes[index] === byte);
}

/** Reads the `oid` and `size` lines of a pointer; returns undefined for anything else. */
export function parseLfsPointer(bytes: Uint8Array): LfsPointer | undefined {
  if (!looksLikeLfsPointer(bytes)) return undefined;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, MAX_LFS_POINTER_BYTES));
  const pointer: LfsPointer = {};
  for (const line of text.split('\n')) {
    const [key, ...rest] = line.split(' ');
    const value = rest.join(' ').trim();
    if (key === 'oid' && value) pointer.oid = value;
    if (key === 'size' && /^\d+$/.test(value)) pointer.size = Number(value);
  }
  return pointer;
}

/** The sentence a user sees when a weight file turns out to be a pointer. */
export function describeLfsPointer(pointer: LfsPointer): string {
  const real = pointer.size === undefined ? '' : ` for a ${formatCount(pointer.size)}-byte file`;
  return `this is a Git LFS pointer${real}, not the weights: run \`git lfs pull\` in the clone `
    + '(or download the real file from the model page)';
}
