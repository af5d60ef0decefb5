/**
 * Names what a file is when its first bytes show it cannot be safetensors: JSON, YAML or other text
 * (a config or an index passed where weights were expected), a GGUF file, a zip archive. A
 * safetensors file starts with its header length as a little-endian u64 below 100 MB, so its bytes
 * 4 to 7 are zero; text never has zero bytes, so no file called text here could have been read.
 */

/** Enough of a text file to tell JSON from YAML and to quote its first line. */
export const SNIFF_BYTES = 1024;

const PREFIX_BYTES = 8;
const QUOTED_CHARACTERS = 40;

/**
 * The refusal's detail for a file that is certainly not safetensors, from its first bytes (up to
 * SNIFF_BYTES are looked at); undefined when the bytes could start a safetensors file or are not
 * recognised.
 */
export function describeNotSafetensors(bytes: Uint8Array): string | undefined {
  const binary = knownBinaryFormat(bytes);
  if (binary !== undefined) return `${NOT_SAFETENSORS}: it is ${binary}`;
  const text = textOf(bytes);
  return text === undefined ? undefined : `${NOT_SAFETENSORS}: it is ${describeText(text)}`;
}

const NOT_SAFETENSORS = 'not a safetensors file (one starts with an 8-byte header length, then a JSON header)';

/**
 * True when the first 8 bytes hold no control bytes, so the file may be text and is worth reading
 * SNIFF_BYTES of to say what it is.
 */
export function startsLikeText(prefix: Uint8Array): boolean {
  return prefix.length > 0 && prefix.subarray(0, PREFIX_BYTES).every(isTextByte);
}

function knownBinaryFormat(bytes: Uint8Array): string | undefined {
  // A non-zero byte among 4 to 7 means a header length of 4 GiB or more: never safetensors.
  if (bytes.length < PREFIX_BYTES || bytes.subarray(4, PREFIX_BYTES).every((byte) => byte === 0)) return undefined;
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic === 'GGUF') return 'a GGUF file (llama.cpp); only safetensors checkpoints are read: use the model\'s safetensors release';
  if (magic === 'PK\u0003\u0004') {
    return 'a zip archive, the way torch.save writes PyTorch checkpoints (.bin, .pt); convert it to safetensors first';
  }
  return undefined;
}

/** The bytes as text when none is a control byte and they are UTF-8 (a character cut at the end of the window aside). */
function textOf(bytes: Uint8Array): string | undefined {
  const window = bytes.subarray(0, SNIFF_BYTES);
  if (window.length === 0 || !window.every(isTextByte)) return undefined;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let cut = 0; cut <= 3 && cut < window.length; cut++) {
    try {
      return decoder.decode(window.subarray(0, window.length - cut));
    } catch {
      // A multi-byte character cut by the window's end: try without its first bytes.
    }
  }
  return undefined;
}

function isTextByte(byte: number): boolean {
  return byte >= 0x20 ? byte !== 0x7f : byte === 0x09 || byte === 0x0a || byte === 0x0c || byte === 0x0d;
}

function describeText(text: string): string {
  const trimmed = text.trimStart();
  const firstLine = trimmed.split(/\r?\n/, 1)[0] ?? '';
  const quoted = JSON.stringify(firstLine.length > QUOTED_CHARACTERS ? `${firstLine.slice(0, QUOTED_CHARACTERS)}...` : firstLine);
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    if (/"weight_map"\s*:/.test(trimmed)) {
      return `JSON text, a checkpoint index (it has a weight_map); open the folder that holds it, or name it with a .safetensors.index.json ending`;
    }
    if (/"(architectures|model_type)"\s*:/.test(trimmed)) {
      return `JSON text, a model's config.json; name the folder that holds the model, or its .safetensors weights`;
    }
    return `JSON text (it starts with ${quoted}); name the .safetensors weights or the folder that holds them`;
  }
  if (looksLikeYaml(trimmed)) return `YAML text (it starts with ${quoted}); name the .safetensors weights or the folder that holds them`;
  return `text (it starts with ${quoted}); name the .safetensors weights or the folder that holds them`;
}

/** A document marker, or a first line (comments aside) of the form `key: value`. */
function looksLikeYaml(text: string): boolean {
  if (text.startsWith('---')) return true;
  const firstLine = text.split(/\r?\n/).find((line) => line.trim() !== '' && !line.trimStart().startsWith('#'));
  return firstLine !== undefined && /^[A-Za-z_][\w .-]*:(\s|$)/.test(firstLine);
}
