/** The build-time inliner of WAT helpers (scripts/wat-inline.mjs): same results, fresh locals per call site, clear refusals. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

interface InlineScript {
  inlineHelpers(text: string): string;
}
interface BuildScript {
  compileWat(text: string): Promise<Uint8Array<ArrayBuffer>>;
}

// Paths in variables: the build scripts are plain JavaScript modules without type declarations.
const INLINE_SCRIPT = '../../../scripts/wat-inline.mjs';
const BUILD_SCRIPT = '../../../scripts/build-wasm.mjs';
const load = async (): Promise<InlineScript & BuildScript> => ({
  ...((await import(INLINE_SCRIPT)) as InlineScript),
  ...((await import(BUILD_SCRIPT)) as BuildScript),
});

/** A helper with a local, called twice per iteration of a loop, whose result depends on the local being set each call. */
const MODULE = (marker: string): string => `
(module
  (memory (export "memory") 1)
  ;; x * 3 + 1, through a local
  ${marker}
  (func $triple_plus_one (param $x i32) (result i32) (local $t i32)
    (local.set $t (i32.mul (local.get $x) (i32.const 3)))
    (i32.add (local.get $t) (i32.const 1)))
  (func (export "run") (param $n i32) (result i32) (local $i i32) (local $sum i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $sum (i32.add (local.get $sum)
        (i32.sub (call $triple_plus_one (local.get $i)) (call $triple_plus_one (i32.const 2)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $sum)))
`;

describe('wat-inline', () => {
  it('writes marked helpers out in their callers and the module computes the same', async () => {
    const { inlineHelpers, compileWat } = await load();
    const inlined = inlineHelpers(MODULE(';; @inline'));
    assert.doesNotMatch(inlined, /call \$triple_plus_one/);
    assert.match(inlined, /\$t__triple_plus_one_0/);
    assert.match(inlined, /\$t__triple_plus_one_1/);
    const run = async (text: string): Promise<number> => {
      const { instance } = await WebAssembly.instantiate(await compileWat(text));
      return (instance.exports['run'] as (n: number) => number)(10);
    };
    // sum over i < 10 of (3i + 1) - 7 = 3 * 45 + 10 - 70
    assert.equal(await run(MODULE(';; @inline')), 75);
    assert.equal(await run(MODULE('')), 75);
    assert.equal(inlineHelpers(MODULE('')), MODULE(''), 'text without markers is left alone');
  });

  it('refuses helpers whose inlined copies could behave differently', async () => {
    const { inlineHelpers } = await load();
    const helper = (body: string): string =>
      `(module\n ;; @inline\n (func $h (param $x i32) (result i32) (local $t i32) ${body})\n (func (export "f") (result i32) (call $h (i32.const 1))))`;
    assert.throws(() => inlineHelpers(helper('(i32.add (local.get $t) (local.get $x))')), /reads \$t before setting it/);
    assert.throws(() => inlineHelpers(helper('(block $b (br $b)) (local.get $x)')), /uses block/);
    assert.throws(() => inlineHelpers(helper('(return (local.get $x))')), /uses return/);
    assert.throws(
      () => inlineHelpers('(module\n ;; @inline\n (func $h (param $x i32) (result i32) (local.get $x))\n (func (export "f") (result i32) (call $h)))'),
      /takes 1 arguments, a call passes 0/,
    );
    assert.throws(() => inlineHelpers('(module\n ;; @inline\n (func $h (param $x i32) (local.get $x)))'), /must return one value/);
  });
});
