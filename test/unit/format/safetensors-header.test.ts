import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SurgeonError, type RefusalRule } from '../../../src/engine/errors';
import { MAX_HEADER_BYTES, parseSafetensorsHeader } from '../../../src/engine/format/safetensors-header';
import { buildSafetensorsFile, headerJson } from './build-file';

const FILE = 'case.safetensors';

function parse(bytes: Uint8Array, fileSize = bytes.length) {
  return parseSafetensorsHeader(bytes, fileSize, FILE);
}

function refusal(bytes: Uint8Array, fileSize = bytes.length): SurgeonError {
  try {
    parse(bytes, fileSize);
  } catch (error) {
    assert.ok(error instanceof SurgeonError, `expected a SurgeonError, got ${String(error)}`);
    assert.equal(error.file, FILE);
    assert.ok(error.message.includes(FILE));
    return error;
  }
  assert.fail('expected the header to be refused');
}

function assertRefused(json: string, dataLength: number, rule: RefusalRule, tensor?: string): void {
  const error = refusal(buildSafetensorsFile(json, dataLength));
  assert.equal(error.rule, rule, `${json}: ${error.message}`);
  if (tensor !== undefined) {
    assert.equal(error.tensor, tensor);
    assert.ok(error.message.includes(JSON.stringify(tensor)));
  }
}

test('reads tensors sorted by offset, with metadata and absolute data start', () => {
  const json = headerJson([
    { name: 'b', dtype: 'F32', shape: [2], offsets: [4, 12] },
    { name: 'a', dtype: 'BF16', shape: [2], offsets: [0, 4] },
    { name: 'scalar', dtype: 'I64', shape: [], offsets: [12, 20] },
    { name: 'empty', dtype: 'F16', shape: [0, 3], offsets: [20, 20] },
  ], { format: 'pt' });
  const bytes = buildSafetensorsFile(json, 20);
  const header = parse(bytes);
  assert.equal(header.headerLength, json.length);
  assert.equal(header.dataStart, 8 + json.length);
  assert.equal(header.fileSize, bytes.length);
  assert.deepEqual(header.metadata, { format: 'pt' });
  assert.deepEqual(header.tensors.map((tensor) => [tensor.name, tensor.begin, tensor.end]),
    [['a', 0, 4], ['b', 4, 12], ['scalar', 12, 20], ['empty', 20, 20]]);
  assert.deepEqual(header.tensors[2]?.shape, []);
});

test('accepts sub-byte dtypes that fill whole bytes and refuses those that do not', () => {
  assert.equal(parse(buildSafetensorsFile(headerJson([{ name: 'q', dtype: 'F4', shape: [4], offsets: [0, 2] }]), 2)).tensors[0]?.dtype, 'F4');
  assert.equal(parse(buildSafetensorsFile(headerJson([{ name: 'q', dtype: 'F6_E2M3', shape: [4], offsets: [0, 3] }]), 3)).tensors.length, 1);
  assertRefused(headerJson([{ name: 'q', dtype: 'F4', shape: [3], offsets: [0, 2] }]), 2, 'byte-length', 'q');
});

test('rule 1: fewer than 8 bytes', () => {
  assert.equal(refusal(new Uint8Array(0)).rule, 'header-too-small');
  assert.equal(refusal(new Uint8Array(7)).rule, 'header-too-small');
});

test('rule 2: header length over the limit (before any allocation) or past the end of the file', () => {
  const huge = buildSafetensorsFile('{}', 0, { headerLength: BigInt(MAX_HEADER_BYTES) + 1n });
  assert.equal(refusal(huge).rule, 'header-too-large');
  assert.equal(refusal(buildSafetensorsFile('{}', 0, { headerLength: (1n << 64n) - 1n })).rule, 'header-too-large');
  // The claimed length fits the limit but not the file: refused from the 8 prefix bytes alone.
  const prefixOnly = buildSafetensorsFile('', 0, { headerLength: 1000n });
  assert.equal(refusal(prefixOnly, 500).rule, 'file-length');
  assert.equal(refusal(buildSafetensorsFile('{}', 0, { headerLength: 3n })).rule, 'file-length');
});

test('rule 3: header bytes that are not UTF-8', () => {
  const bytes = buildSafetensorsFile('{"a":1}', 0);
  bytes[10] = 0xff;
  assert.equal(refusal(bytes).rule, 'header-not-utf8');
  // A multi-byte sequence cut short by the header length.
  const cut = buildSafetensorsFile('{"\u00e9":1}', 0, { headerLength: 3n }).subarray(0, 11);
  assert.equal(refusal(cut).rule, 'header-not-utf8');
  // A byte-order mark is not JSON whitespace.
  const withBom = buildSafetensorsFile('\ufeff{}', 0);
  assert.equal(refusal(withBom).rule, 'header-not-json');
});

test('rule 4: not a JSON object of tensor entries', () => {
  assertRefused('{"a":', 0, 'header-not-json');
  assertRefused('[]', 0, 'header-schema');
  assertRefused('[{"dtype":"F32","shape":[],"data_offsets":[0,4]}]', 4, 'header-schema');
  assertRefused('"text"', 0, 'header-schema');
  assertRefused('null', 0, 'header-schema');
  assertRefused('{"t":[1,2]}', 0, 'header-schema', 't');
  assertRefused('{"t":{"dtype":"F32","shape":[1]}}', 4, 'header-schema', 't');
  assertRefused('{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}}', 4, 'header-schema', 't');
  assertRefused('{"t":{"dtype":"F32","shape":1,"data_offsets":[0,4]}}', 4, 'header-schema', 't');
  assertRefused('{"t":{"dtype":"F32","shape":[1],"data_offsets":[0]}}', 4, 'header-schema', 't');
  assertRefused('{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}', 4, 'header-schema', 't');
  assertRefused('{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} x', 4, 'header-not-json');
  assertRefused('{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}\0', 4, 'header-not-json');
});

test('rule 4: whitespace around the object is accepted', () => {
  for (const json of [' {}', '{}   ', '\t\n{}\r ', '{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}\n']) {
    assert.ok(parse(buildSafetensorsFile(json, json.includes('"t"') ? 1 : 0)));
  }
});

test('rule 4: unknown or lower-case dtypes', () => {
  assertRefused(headerJson([{ name: 't', dtype: 'f32', shape: [1], offsets: [0, 4] }]), 4, 'unknown-dtype', 't');
  assertRefused(headerJson([{ name: 't', dtype: 'Bf16', shape: [1], offsets: [0, 2] }]), 2, 'unknown-dtype', 't');
  assertRefused(headerJson([{ name: 't', dtype: 'F128', shape: [1], offsets: [0, 16] }]), 16, 'unknown-dtype', 't');
  assertRefused('{"t":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}', 4, 'unknown-dtype', 't');
});

test('rule 4: __metadata__ must map strings to strings', () => {
  for (const metadata of ['{"format":1}', '{"a":null}', '{"a":["pt"]}', '{"a":{"b":"c"}}', '"pt"', '[]', 'null']) {
    assertRefused(`{"__metadata__":${metadata}}`, 0, 'metadata');
  }
  assert.deepEqual(parse(buildSafetensorsFile('{"__metadata__":{}}', 0)).metadata, {});
});

test('dimensions must be non-negative exact integers', () => {
  for (const dimension of ['-1', '2.5', '2.0', '1e0', '"2"', 'null', 'true', '[2]']) {
    assertRefused(`{"t":{"dtype":"U8","shape":[${dimension}],"data_offsets":[0,2]}}`, 2, 'header-schema', 't');
  }
});

test('offsets must be integers within Number.MAX_SAFE_INTEGER', () => {
  for (const offsets of ['[0,4.0]', '[-0.5,4]', '[-4,0]', '["0",4]', '[0,1e1]', '[0,9007199254740992]']) {
    assertRefused(`{"t":{"dtype":"U8","shape":[4],"data_offsets":${offsets}}}`, 4, 'offsets', 't');
  }
});

test('rule 5: offsets must start at 0 and run back to back', () => {
  assertRefused(headerJson([{ name: 'late', dtype: 'U8', shape: [4], offsets: [4, 8] }]), 8, 'offsets', 'late');
  assertRefused(headerJson([
    { name: 'a', dtype: 'U8', shape: [4], offsets: [0, 4] },
    { name: 'gap', dtype: 'U8', shape: [4], offsets: [6, 10] },
  ]), 10, 'offsets', 'gap');
  assertRefused(headerJson([
    { name: 'a', dtype: 'U8', shape: [4], offsets: [0, 4] },
    { name: 'overlap', dtype: 'U8', shape: [4], offsets: [2, 6] },
  ]), 6, 'offsets', 'overlap');
  assertRefused(headerJson([{ name: 'backwards', dtype: 'U8', shape: [0], offsets: [0, 0] },
    { name: 'z', dtype: 'U8', shape: [0], offsets: [0, 0] }, { name: 'x', dtype: 'U8', shape: [1], offsets: [1, 0] }]),
  1, 'offsets', 'x');
});

test('rule 6: element counts and bit counts past 64 bits', () => {
  assertRefused(headerJson([{ name: 'big', dtype: 'U8', shape: ['4294967296', '4294967296'], offsets: [0, 16] }]), 16, 'size-overflow', 'big');
  assertRefused(headerJson([{ name: 'wide', dtype: 'I32', shape: [2, '9223372036854775807'], offsets: [0, 16] }]), 16, 'size-overflow', 'wide');
  assertRefused(headerJson([{ name: 'dim', dtype: 'U8', shape: ['18446744073709551616'], offsets: [0, 16] }]), 16, 'size-overflow', 'dim');
});

test('rule 7: byte length must match shape and dtype', () => {
  assertRefused(headerJson([{ name: 't', dtype: 'I32', shape: [2, 2], offsets: [0, 4] }]), 4, 'byte-length', 't');
  assertRefused(headerJson([{ name: 't', dtype: 'F32', shape: [2], offsets: [0, 9] }]), 9, 'byte-length', 't');
});

test('rule 8: data must end exactly at the end of the file', () => {
  const json = headerJson([{ name: 't', dtype: 'F32', shape: [2], offsets: [0, 8] }]);
  assert.equal(refusal(buildSafetensorsFile(json, 9)).rule, 'file-length');
  assert.equal(refusal(buildSafetensorsFile(json, 7)).rule, 'file-length');
  assert.ok(parse(buildSafetensorsFile(json, 8)));
});

test('duplicate tensor names are refused, naming the tensor', () => {
  const json = '{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}';
  assertRefused(json, 2, 'duplicate-key', 'w');
});

test('a Git LFS pointer is named as such', () => {
  const pointer = new TextEncoder().encode(
    'version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 4945242264\n');
  const error = refusal(pointer);
  assert.equal(error.rule, 'lfs-pointer');
  assert.match(error.message, /Git LFS pointer/);
  assert.match(error.message, /git lfs pull/);
  assert.match(error.message, /4,945,242,264/);
});
