/**
 * The extension activates on what it serves (issue 21, item 9): its views, its custom editors and
 * their files, its report panel, and (implicitly, since VS Code 1.74) its commands. Not on every
 * JSON or YAML file opened: the hovers there work once the extension is active.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_MAX_SHARD_BYTES } from '../../../src/shared/defaults';

interface Manifest {
  activationEvents: string[];
  contributes: {
    views: Record<string, Array<{ id: string }>>;
    customEditors: Array<{ viewType: string }>;
  };
}

const manifest = JSON.parse(readFileSync(join(__dirname, '../../../package.json'), 'utf8')) as Manifest;

test('no activation on languages, on start-up or on everything', () => {
  for (const event of manifest.activationEvents) {
    assert.ok(!event.startsWith('onLanguage:'), `${event}: the hover provider does not need its own activation`);
    assert.notEqual(event, '*');
    assert.notEqual(event, 'onStartupFinished');
  }
});

test('activation on each contributed view and custom editor, the report panel and the workspace\'s checkpoints', () => {
  const expected = [
    ...Object.values(manifest.contributes.views).flat().map((view) => `onView:${view.id}`),
    ...manifest.contributes.customEditors.map((editor) => `onCustomEditor:${editor.viewType}`),
    'onWebviewPanel:checkpointSurgeon.report',
    'workspaceContains:**/*.safetensors',
    'workspaceContains:**/*.safetensors.index.json',
  ];
  assert.deepEqual([...manifest.activationEvents].sort(), expected.sort());
});

test('the shard-size setting defaults to the engine\'s default', () => {
  const settings = (manifest.contributes as unknown as { configuration: { properties: Record<string, { default?: unknown }> } }).configuration.properties;
  assert.equal(settings['checkpointSurgeon.shardSize']?.default, DEFAULT_MAX_SHARD_BYTES);
});
