import { InvalidArgumentError } from 'commander';

const UNITS: Readonly<Record<string, number>> = {
  '': 1, B: 1,
  KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12,
  KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40,
};

/** `5GB`, `500MB`, `2GiB` or a byte count, as transformers' `max_shard_size` takes them (decimal units). */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = UNITS[match?.[2]?.toUpperCase() ?? '?'];
  if (!match || unit === undefined) throw new InvalidArgumentError(`expected a size such as 500MB, 5GB or 1048576, not ${JSON.stringify(text)}`);
  const bytes = Math.floor(Number(match[1]) * unit);
  if (!(bytes > 0) || !Number.isSafeInteger(bytes)) throw new InvalidArgumentError(`the size must be positive: ${JSON.stringify(text)}`);
  return bytes;
}

export function parseScale(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new InvalidArgumentError(`expected a number, not ${JSON.stringify(text)}`);
  return value;
}

export function parseWholeNumber(text: string): number {
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value)) throw new InvalidArgumentError(`expected a whole number, not ${JSON.stringify(text)}`);
  return value;
}

/** A share: `0.9` or `90%`, above 0 and at most 1. */
export function parseShare(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(%?)\s*$/.exec(text);
  const value = match ? Number(match[1]) / (match[2] === '%' ? 100 : 1) : Number.NaN;
  if (!(value > 0 && value <= 1)) throw new InvalidArgumentError(`expected a share above 0 and at most 1, such as 0.9 or 90%, not ${JSON.stringify(text)}`);
  return value;
}
