/**
 * Property-based fuzzing of the safetensors header parser and the strict JSON parser: whatever
 * the bytes, the parser returns a header that satisfies every format rule or throws a
 * SurgeonError, never another exception and never a hang. Inputs are mutations of real
 * headers (test/fuzz/corpus) and generated JSON. Bounded to about 2,000 runs in all.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { SurgeonError } from '../../src/engine/errors';
import { DTYPES, DTYPE_BITS } from '../../src/engine/format/dtype';
import { parseSafetensorsHeader, type SafetensorsHeader } from '../../src/engine/format/safetensors-header';
import { parseStrictJson } from '../../src/engine/format/strict-json';

const CORPUS_FOLDER = join(__dirname, 'corpus');
const FILE = 'fuzz.safetensors';
const SUITE_TIMEOUT_MS = 60_000;

interface Seed { name: string; json: string; fileSize: number }

const seeds: Seed[] = readdirSync(CORPUS_FOLDER).filter((name) => name.endsWith('.header')).sort().map((name) => {
  const bytes = new Uint8Array(readFileSync(join(CORPUS_FOLDER, name)));
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const json = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
  // The corpus holds headers only; the data length the header describes gives the original file size.
  const fileSize = bytes.length + dataLengthOf(json);
  return { name, json, fileSize };
});

function dataLengthOf(json: string): number {
  const header = JSON.parse(json) as Record<string, { data_offsets?: [number, number] }>;
  return Math.max(0, ...Object.values(header).map((entry) => entry.data_offsets?.[1] ?? 0));
}

function withPrefix(body: Uint8Array, headerLength: bigint = BigInt(body.length)): Uint8Array {
  const bytes = new Uint8Array(8 + body.length);
  new DataView(bytes.buffer).setBigUint64(0, headerLength, true);
  bytes.set(body, 8);
  return bytes;
}

/** Parses and checks the outcome: a header that keeps every rule, or a SurgeonError naming the file. */
function parseChecked(bytes: Uint8Array, fileSize: number): SafetensorsHeader | SurgeonError {
  let header: SafetensorsHeader;
  try {
    header = parseSafetensorsHeader(bytes, fileSize, FILE);
  } catch (error) {
    assert.ok(error instanceof SurgeonError, `not a SurgeonError: ${String(error)}`);
    assert.equal(error.file, FILE);
    return error;
  }
  assert.equal(header.dataStart, 8 + header.headerLength);
  let cursor = 0;
  for (const tensor of header.tensors) {
    assert.ok(DTYPES.includes(tensor.dtype));
    assert.equal(tensor.begin, cursor);
    const bits = tensor.shape.reduce((product, dimension) => product * BigInt(dimension), 1n) * BigInt(DTYPE_BITS[tensor.dtype]);
    assert.equal(BigInt(tensor.end - tensor.begin) * 8n, bits);
    cursor = tensor.end;
  }
  assert.equal(header.dataStart + cursor, fileSize);
  return header;
}

test('the corpus seeds parse as they are', () => {
  assert.ok(seeds.length >= 4);
  for (const seed of seeds) {
    const result = parseChecked(withPrefix(new TextEncoder().encode(seed.json)), seed.fileSize);
    assert.ok(!(result instanceof SurgeonError), `${seed.name}: ${String(result)}`);
  }
});

const seedArbitrary = fc.constantFrom(...seeds);

test('byte-level mutations of real headers never escape as another error', { timeout: SUITE_TIMEOUT_MS }, () => {
  const mutation = fc.record({
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
    lengthDelta: fc.integer({ min: -3, max: 3 }),
    sizeDelta: fc.oneof(fc.constant(0), fc.integer({ min: -16, max: 16 })),
  });
  fc.assert(fc.property(seedArbitrary, mutation, (seed, { flips, cut, lengthDelta, sizeDelta }) => {
    let body = new TextEncoder().encode(seed.json);
    for (const [position, value] of flips) body[position % body.length] = value;
    if (cut !== undefined) body = body.subarray(0, cut % (body.length + 1));
    const bytes = withPrefix(body, BigInt(Math.max(0, body.length + lengthDelta)));
    parseChecked(bytes, Math.max(0, seed.fileSize + sizeDelta + (body.length - seed.json.length)));
  }), { numRuns: 600 });
});

/** Replaces numbers and strings of a real header with hostile ones, keeping the length prefix right. */
test('token-level mutations of real headers never escape as another error', { timeout: SUITE_TIMEOUT_MS }, () => {
  const hostileNumber = fc.oneof(
    fc.constantFrom('-1', '0', '1.5', '2.0', '1e3', '-0', '9007199254740993', '18446744073709551615',
      '18446744073709551616', '340282366920938463463374607431768211456', '1e400', '00', '1.'),
    fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }).map(String),
    fc.integer({ min: 0, max: 5000 }).map(String),
  );
  const hostileString = fc.oneof(
    fc.constantFrom('"f32"', '"BF16 "', '"F8_E4M3"', '"F4"', '"__metadata__"', '"\\ud800"', '""', '"\\u0000"', 'null', '[]', '{}'),
    fc.constantFrom(...DTYPES).map((dtype) => JSON.stringify(dtype)),
    fc.string({ maxLength: 6 }).map((text) => JSON.stringify(text)),
  );
  const edits = fc.array(fc.tuple(fc.nat(), fc.boolean(), hostileNumber, hostileString), { minLength: 1, maxLength: 3 });
  fc.assert(fc.property(seedArbitrary, edits, fc.boolean(), (seed, edit, duplicateFirstEntry) => {
    const tokens = seed.json.split(/("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/);
    for (const [position, preferNumber, number, string] of edit) {
      const candidates = tokens.map((token, index) => ({ token, index }))
        .filter(({ token }) => (preferNumber ? /^-?\d/.test(token) : token.startsWith('"')));
      const chosen = candidates[position % Math.max(1, candidates.length)];
      if (chosen !== undefined) tokens[chosen.index] = preferNumber ? number : string;
    }
    let json = tokens.join('');
    if (duplicateFirstEntry) json = json.replace(/^\s*\{("(?:[^"\\]|\\.)*":\{[^}]*\}),/, (whole, entry: string) => `${whole}${entry},`);
    const body = new TextEncoder().encode(json);
    parseChecked(withPrefix(body), 8 + body.length + dataLengthGuess(json));
  }), { numRuns: 600 });
});

function dataLengthGuess(json: string): number {
  const ends = [...json.matchAll(/"data_offsets":\[\s*\d+\s*,\s*(\d{1,15})\s*\]/g)].map((match) => Number(match[1]));
  return ends.length === 0 ? 0 : Math.max(...ends);
}

test('generated JSON headers never escape as another error', { timeout: SUITE_TIMEOUT_MS }, () => {
  const dimension = fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constantFrom(-1, 1.5, 2 ** 53, 2 ** 64));
  const entry = fc.record({
    dtype: fc.oneof(fc.constantFrom(...DTYPES), fc.constantFrom('f32', 'F128', 'bf16')),
    shape: fc.array(dimension, { maxLength: 3 }),
    data_offsets: fc.tuple(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 64 })),
  }, { requiredKeys: [] });
  const header = fc.oneof(
    fc.dictionary(fc.string({ maxLength: 5 }), entry, { maxKeys: 5 }),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue(), { maxKeys: 4 }),
    fc.jsonValue(),
  );
  fc.assert(fc.property(header, fc.integer({ min: 0, max: 256 }), fc.constantFrom('', ' ', '\n\t', '  x'),
    (value, dataLength, padding) => {
      const body = new TextEncoder().encode(JSON.stringify(value) + padding);
      parseChecked(withPrefix(body), 8 + body.length + dataLength);
    }), { numRuns: 500 });
});

test('the strict JSON parser agrees with JSON.parse except where it is stricter', { timeout: SUITE_TIMEOUT_MS }, () => {
  const text = fc.oneof(
    fc.json(),
    fc.json().chain((json) => fc.tuple(fc.nat(), fc.string({ maxLength: 2 }))
      .map(([position, insert]) => json.slice(0, position % (json.length + 1)) + insert + json.slice(position % (json.length + 1) + 1))),
    fc.string({ maxLength: 12 }),
  );
  fc.assert(fc.property(text, (input) => {
    let expected: unknown;
    let referenceAccepts = true;
    try {
      expected = JSON.parse(input);
    } catch {
      referenceAccepts = false;
    }
    let actual: unknown;
    try {
      actual = parseStrictJson(input, 'fuzz.json');
    } catch (error) {
      assert.ok(error instanceof SurgeonError, `not a SurgeonError: ${String(error)}`);
      // Stricter than JSON.parse only for duplicate keys and escaped lone surrogates.
      if (referenceAccepts) assert.ok(error.rule === 'duplicate-key' || /surrogate/.test(error.message), error.message);
      return;
    }
    assert.ok(referenceAccepts, `accepted what JSON.parse refuses: ${JSON.stringify(input)}`);
    assert.deepEqual(actual, expected);
  }), { numRuns: 600 });
});
