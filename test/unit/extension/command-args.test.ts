/** The commands' argument parsers: the palette's nothing, a menu's Uri, a caller's options object. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CommandArgumentError, isUriLike, parseApplyArgs, parseCardArgs, parseCheckpointItem, parseCompareArgs, parseComputeArgs,
  parseExplorerPair, parseExplorerTarget, parseHubTokenArgs, parseInspectArgs, parseOpenReportArgs, parsePushArgs, parseVerifyArgs,
} from '../../../src/extension/command-args';

/** What vscode.Uri.file gives, as far as the parsers look. */
const fileUri = (fsPath: string) => ({ scheme: 'file', fsPath, path: fsPath });

function refuses(run: () => unknown, pattern: RegExp): void {
  assert.throws(run, (error: unknown) => error instanceof CommandArgumentError && pattern.test(error.message));
}

describe('command arguments', () => {
  it('the palette passes nothing: every parser of an options object gives an empty one', () => {
    for (const parse of [parseComputeArgs, parseApplyArgs, parseCompareArgs, parseInspectArgs, parseVerifyArgs, parseCardArgs, parseOpenReportArgs, parsePushArgs, parseHubTokenArgs]) {
      assert.deepEqual(parse(undefined), {});
      assert.deepEqual(parse(null), {});
    }
  });

  it('an options object keeps its fields with their types', () => {
    assert.deepEqual(parseComputeArgs({ base: '/b', instruct: '/i', out: '/o', dtype: 'f32' }), { base: '/b', instruct: '/i', out: '/o', dtype: 'f32' });
    assert.deepEqual(parseApplyArgs({ base: '/b', residual: '/r', out: '/o', scale: 0.5, include: 'mlp', exclude: '' }), { base: '/b', residual: '/r', out: '/o', scale: 0.5, include: 'mlp' });
    assert.deepEqual(parseCompareArgs({ a: '/a', b: '/b', select: 'lm_head.weight', spectra: false }), { a: '/a', b: '/b', select: 'lm_head.weight', spectra: false });
    assert.deepEqual(parseVerifyArgs({ base: '/b', residual: '/r', instruct: '/i' }), { base: '/b', residual: '/r', instruct: '/i' });
    assert.deepEqual(parseOpenReportArgs({ id: 'abc' }), { id: 'abc' });
    assert.deepEqual(parsePushArgs({ dir: '/d', repo: 'org/name', private: false }), { dir: '/d', repo: 'org/name', private: false });
    // An empty token is meaningful: it removes the stored one.
    assert.deepEqual(parseHubTokenArgs({ token: '' }), { token: '' });
    // An explicitly undefined field is an absent one.
    assert.deepEqual(parseComputeArgs({ base: undefined, out: '/o' }), { out: '/o' });
  });

  it('a field of the wrong type is refused by name', () => {
    refuses(() => parseComputeArgs({ base: 42 }), /Compute Residual: "base" must be a non-empty string, not 42/);
    refuses(() => parseComputeArgs({ base: '' }), /"base" must be a non-empty string, not an empty string/);
    refuses(() => parseComputeArgs({ dtype: 'f8' }), /"dtype" must be one of auto, same, f64, f32, bf16, f16/);
    refuses(() => parseApplyArgs({ scale: '1' }), /"scale" must be a finite number/);
    refuses(() => parseApplyArgs({ scale: Number.NaN }), /"scale" must be a finite number/);
    refuses(() => parseCompareArgs({ spectra: 'yes' }), /"spectra" must be true or false/);
    refuses(() => parsePushArgs({ private: 1 }), /"private" must be true or false/);
  });

  it('a token of the wrong type is refused without echoing it', () => {
    assert.throws(() => parseHubTokenArgs({ token: ['hf_secret'] }), (error: Error) => !error.message.includes('hf_secret'));
  });

  it('an unknown option is refused with the options the command takes', () => {
    refuses(() => parseInspectArgs({ file: '/x' }), /Inspect has no option "file"; it takes path/);
    refuses(() => parseComputeArgs({ base: '/b', bse: '/b' }), /no option "bse"; it takes base, instruct, out, dtype/);
  });

  it('a value that is not an options object is refused', () => {
    refuses(() => parseComputeArgs('/b'), /takes an options object \(base, instruct, out, dtype\), not that string/);
    refuses(() => parseCompareArgs(['/a', '/b']), /not an array/);
    refuses(() => parseComputeArgs(fileUri('/b')), /not a resource/);
  });

  it('inspect, verify, model card and push also take the Uri of a local checkpoint', () => {
    assert.deepEqual(parseInspectArgs(fileUri('/m')), { path: '/m' });
    // The Explorer's Verify on a residual folder: the residual, base and instruct come from its provenance.json.
    assert.deepEqual(parseVerifyArgs(fileUri('/r')), { residual: '/r' });
    assert.deepEqual(parseCardArgs(fileUri('/m')), { dir: '/m' });
    assert.deepEqual(parsePushArgs(fileUri('/m')), { dir: '/m' });
    refuses(() => parseInspectArgs({ scheme: 'vscode-remote', fsPath: '/m' }), /local files only/);
  });

  it('an Explorer command needs the clicked Uri', () => {
    assert.equal(parseExplorerTarget('Inspect', fileUri('/m')), '/m');
    refuses(() => parseExplorerTarget('Inspect', undefined), /Inspect runs from the Explorer's context menu/);
    refuses(() => parseExplorerTarget('Inspect', { path: '/m' }), /Explorer's context menu/);
  });

  it('the two-selection commands need exactly two distinct resources', () => {
    assert.deepEqual(parseExplorerPair('Compare Selected', fileUri('/a'), [fileUri('/a'), fileUri('/b')]), ['/a', '/b']);
    refuses(() => parseExplorerPair('Compare Selected', fileUri('/a'), undefined), /Select exactly two checkpoints/);
    refuses(() => parseExplorerPair('Compare Selected', fileUri('/a'), [fileUri('/a'), fileUri('/a')]), /Select exactly two/);
    refuses(() => parseExplorerPair('Compare Selected', fileUri('/a'), [fileUri('/a'), fileUri('/b'), fileUri('/c')]), /Select exactly two/);
    refuses(() => parseExplorerPair('Compare Selected', fileUri('/a'), ['/a', '/b']), /two selected checkpoints/);
  });

  it('a Checkpoints view command needs a checkpoint item', () => {
    assert.equal(parseCheckpointItem('Inspect', { kind: 'checkpoint', source: 'workspace', path: '/m', label: 'm' }), '/m');
    refuses(() => parseCheckpointItem('Inspect', { kind: 'root', source: 'workspace' }), /pick a checkpoint in the Checkpoints view/);
    refuses(() => parseCheckpointItem('Inspect', undefined), /Checkpoints view/);
  });

  it('isUriLike recognises a Uri by shape', () => {
    assert.equal(isUriLike(fileUri('/a')), true);
    assert.equal(isUriLike({ fsPath: '/a' }), false);
    assert.equal(isUriLike('/a'), false);
    assert.equal(isUriLike(null), false);
  });
});
