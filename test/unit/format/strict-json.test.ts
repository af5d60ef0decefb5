import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SurgeonError } from '../../../src/engine/errors';
import { MAX_JSON_NESTING_DEPTH, parseStrictJson } from '../../../src/engine/format/strict-json';

function refusal(text: string, options = {}): SurgeonError {
  try {
    parseStrictJson(text, 'x.json', options);
  } catch (error) {
    assert.ok(error instanceof SurgeonError, `expected a SurgeonError, got ${String(error)}`);
    return error;
  }
  assert.fail(`expected ${JSON.stringify(text)} to be refused`);
}

test('parses the same values as JSON.parse for valid documents', () => {
  const documents = [
    '{"a":1,"b":[true,false,null],"c":{"d":"e\\n\\u00e9\\ud83d\\ude00"},"f":-0.5e-3}',
    ' [ 1 , 2.5 , -3 , 1E+2 , "x\\/y" ] ',
    '"just a string"', '0', '-0', 'null', '{}', '[]', '{"__proto__":{"x":1}}',
  ];
  for (const text of documents) {
    assert.deepEqual(parseStrictJson(text, 'x.json'), JSON.parse(text), text);
  }
});

test('keeps a "__proto__" key as an own property without touching the prototype', () => {
  const value = parseStrictJson('{"__proto__":{"polluted":true}}', 'x.json') as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
  assert.deepEqual(Object.keys(value), ['__proto__']);
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
});

test('refuses duplicate keys at any depth, naming the key', () => {
  const top = refusal('{"a":1,"a":2}');
  assert.equal(top.rule, 'duplicate-key');
  assert.match(top.message, /"a"/);
  assert.equal(top.file, 'x.json');
  assert.equal(top.tensor, undefined);
  assert.equal(refusal('{"x":{"b":1,"c":2,"b":3}}').rule, 'duplicate-key');
  // Keys equal after unescaping are duplicates too.
  assert.equal(refusal('{"a":1,"\\u0061":2}').rule, 'duplicate-key');
});

test('reports a duplicate top-level key as a tensor when asked to', () => {
  const error = refusal('{"w":1,"w":2}', { topLevelKeysAreTensors: true });
  assert.equal(error.tensor, 'w');
  assert.equal(refusal('{"o":{"w":1,"w":2}}', { topLevelKeysAreTensors: true }).tensor, undefined);
});

test('returns exact bigints for plain integers when asked to, numbers otherwise', () => {
  const value = parseStrictJson('[18446744073709551615, 2, 2.0, 1e3, -4]', 'x.json', { integersAsBigInt: true });
  assert.deepEqual(value, [18446744073709551615n, 2n, 2, 1000, -4n]);
});

test('refuses what RFC 8259 refuses', () => {
  const invalid = [
    '', ' ', '{', '{"a":1,}', '[1,]', '[01]', '[1.]', '[.5]', '[+1]', '[1e]', '[NaN]', '[Infinity]',
    "{'a':1}", '{a:1}', '"\\x41"', '"tab\there"', '"unterminated', '[1 2]', '{"a" 1}', 'nul', 'true false',
    '{"a":1}x', '\ufeff{}', '"\\ud800"', '"\\udc00"', '"\\ud800\\u0041"', '"\\u12"',
  ];
  for (const text of invalid) {
    assert.equal(refusal(text).rule, 'invalid-json', JSON.stringify(text));
  }
});

test('refuses nesting past the limit without overflowing the stack', () => {
  const deep = `${'['.repeat(MAX_JSON_NESTING_DEPTH + 2)}${']'.repeat(MAX_JSON_NESTING_DEPTH + 2)}`;
  assert.equal(refusal(deep).rule, 'invalid-json');
  const allowed = `${'['.repeat(MAX_JSON_NESTING_DEPTH)}${']'.repeat(MAX_JSON_NESTING_DEPTH)}`;
  assert.ok(Array.isArray(parseStrictJson(allowed, 'x.json')));
  const hostile = '['.repeat(1_000_000);
  assert.equal(refusal(hostile).rule, 'invalid-json');
});
