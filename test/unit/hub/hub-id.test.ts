import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isSurgeonError } from '../../../src/engine/errors';
import { formatHubId, parseHubId } from '../../../src/engine/hub/hub-id';

test('parses ids with and without a revision', () => {
  assert.deepEqual(parseHubId('mistralai/Mistral-7B-Instruct-v0.1'), { repo: 'mistralai/Mistral-7B-Instruct-v0.1' });
  assert.deepEqual(parseHubId('meta-llama/Llama-3.2-3B@main'), { repo: 'meta-llama/Llama-3.2-3B', revision: 'main' });
  assert.deepEqual(parseHubId('org/name@refs/pr/12'), { repo: 'org/name', revision: 'refs/pr/12' });
  assert.deepEqual(parseHubId('gpt2@6c0e608'), { repo: 'gpt2', revision: '6c0e608' });
  assert.equal(formatHubId(parseHubId('org/name_1.5@v1.0')), 'org/name_1.5@v1.0');
});

test('refuses ids that could escape a folder or that the Hub refuses', () => {
  const bad = [
    '', 'org/', '/name', 'a/b/c', '../name', 'org/..', 'org/na..me', 'org\\name', 'org/name ', 'org name/x',
    'org--x/name', 'org/name@', 'org/name@../main', 'org/name@/abs', 'org/name@a//b', 'org/name@a\\b', '-org/name',
    'org/name-', 'C:/x', `org/${'n'.repeat(100)}`, 'org/name@ main', 'org/näme',
  ];
  for (const text of bad) {
    assert.throws(() => parseHubId(text), (error: unknown) => isSurgeonError(error) && error.rule === 'usage', text);
  }
});

test('every accepted id round-trips and never contains a path escape', () => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom(...'ab9_-./@ \\:~'.split('')), maxLength: 24 }), (text) => {
      let id;
      try {
        id = parseHubId(text);
      } catch {
        return;
      }
      assert.equal(formatHubId(id), text);
      assert.ok(!text.includes('..') && !text.includes('\\') && !/\s/.test(text) && !text.startsWith('/'));
    }),
    { numRuns: 2000 },
  );
});
