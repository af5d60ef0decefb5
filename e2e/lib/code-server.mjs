// Starts and stops a real VS Code (code-server 4.100.3, see scripts/install-code-server.sh) for the
// extension-host tests and the browser tests. Each server gets fresh temp folders and its own
// process group, so stopping it kills every child (extension host, pty host, file watcher).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const E2E_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(E2E_ROOT, '..');
export const CODE_SERVER_BIN = join(E2E_ROOT, 'node_modules', '.bin', 'code-server');

/** code-server listens well under a second on this kind of machine; the margin covers a busy CI. */
const START_TIMEOUT_MS = 60_000;
/** Time the server group gets to exit on SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 3_000;
const LISTENING = /HTTP server listening on (http:\/\/[^\s]+)/;

export function assertCodeServerInstalled() {
  if (!existsSync(CODE_SERVER_BIN)) {
    throw new Error(`code-server is not installed (${CODE_SERVER_BIN}); run scripts/install-code-server.sh first.`);
  }
}

/**
 * @typedef {object} CodeServer
 * @property {string} url        e.g. http://127.0.0.1:41234 (no trailing slash)
 * @property {string} authority  host:port, for vscode-remote:// URIs
 * @property {string} tempDir    holds user data, extensions and XDG config; removed by stop()
 * @property {string} extensionsDir
 * @property {() => string} output  everything the server printed so far
 * @property {() => Promise<void>} stop
 */

/**
 * @param {object} [options]
 * @param {Record<string, string>} [options.env]   extra environment (it reaches the extension host)
 * @param {Record<string, unknown>} [options.settings]  merged into the user settings.json
 * @param {boolean} [options.workspaceTrust]  false (default) passes --disable-workspace-trust
 * @param {string[]} [options.args]  extra CLI arguments, e.g. a folder to open
 * @param {string} [options.extensionsDir]  reuse an extensions folder (e.g. one a VSIX was installed into)
 * @returns {Promise<CodeServer>}
 */
export async function startCodeServer(options = {}) {
  assertCodeServerInstalled();
  const tempDir = await mkdtemp(join(tmpdir(), 'surgeon-code-server-'));
  const userDataDir = join(tempDir, 'user-data');
  const extensionsDir = options.extensionsDir ?? join(tempDir, 'extensions');
  await mkdir(join(userDataDir, 'User'), { recursive: true });
  await mkdir(extensionsDir, { recursive: true });
  await writeFile(join(userDataDir, 'User', 'settings.json'), JSON.stringify({
    'workbench.startupEditor': 'none',
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'workbench.tips.enabled': false,
    'security.workspace.trust.startupPrompt': 'never',
    ...options.settings,
  }, null, 2));

  const args = [
    '--auth', 'none', '--bind-addr', '127.0.0.1:0',
    '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir,
    '--disable-telemetry', '--disable-update-check', '--disable-getting-started-override',
    ...(options.workspaceTrust ? [] : ['--disable-workspace-trust']),
    ...(options.args ?? []),
  ];
  const child = spawn(CODE_SERVER_BIN, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, XDG_CONFIG_HOME: join(tempDir, 'xdg'), ...options.env },
  });
  let output = '';
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await killGroup(child);
    await rm(tempDir, { recursive: true, force: true, maxRetries: 3 });
  };

  try {
    const url = await new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`code-server did not start within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
      const onData = (chunk) => {
        output += chunk.toString();
        const match = LISTENING.exec(output);
        if (match) { clearTimeout(timer); resolvePromise(match[1].replace(/\/$/, '')); }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`code-server exited with ${code}:\n${output}`)); });
    });
    return { url, authority: new URL(url).host, tempDir, extensionsDir, output: () => output, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** SIGTERM to the whole process group, then SIGKILL after a grace period. */
async function killGroup(child) {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise((resolvePromise) => child.once('exit', resolvePromise));
  try { process.kill(-child.pid, 'SIGTERM'); } catch { return; }
  const timedOut = await Promise.race([exited.then(() => false), delay(STOP_GRACE_MS).then(() => true)]);
  // Children of the group (extension host, watchers) may outlive the server; kill what is left.
  try { process.kill(-child.pid, 'SIGKILL'); } catch { /* the group is gone */ }
  if (timedOut) await exited;
}

function delay(ms) {
  return new Promise((resolvePromise) => setTimeout(resolvePromise, ms));
}

/**
 * The workbench URL that opens `folder` and loads an extension from `extensionDevelopmentPath`,
 * optionally running the mocha suite exported by `extensionTestsPath` (code-server's CLI refuses
 * these flags, the workbench payload accepts them).
 * @param {CodeServer} server
 * @param {{ folder?: string, extensionDevelopmentPath?: string, extensionTestsPath?: string }} target
 */
export function workbenchUrl(server, target) {
  const payload = [['skipWelcome', 'true']];
  const remote = (path) => `vscode-remote://${server.authority}${resolve(path)}`;
  if (target.extensionDevelopmentPath) payload.push(['extensionDevelopmentPath', remote(target.extensionDevelopmentPath)]);
  if (target.extensionTestsPath) payload.push(['extensionTestsPath', remote(target.extensionTestsPath)]);
  const query = new URLSearchParams();
  if (target.folder) query.set('folder', resolve(target.folder));
  query.set('payload', JSON.stringify(payload));
  return `${server.url}/?${query.toString()}`;
}

/**
 * Installs a VSIX into an extensions folder with code-server's own CLI.
 * @param {string} vsixPath
 * @param {string} extensionsDir
 */
export async function installVsix(vsixPath, extensionsDir) {
  assertCodeServerInstalled();
  const tempDir = await mkdtemp(join(tmpdir(), 'surgeon-vsix-install-'));
  try {
    const output = await new Promise((resolvePromise, reject) => {
      const child = spawn(CODE_SERVER_BIN, [
        '--install-extension', resolve(vsixPath), '--extensions-dir', extensionsDir,
        '--user-data-dir', join(tempDir, 'user-data'),
      ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XDG_CONFIG_HOME: join(tempDir, 'xdg') } });
      let text = '';
      child.stdout.on('data', (chunk) => { text += chunk; });
      child.stderr.on('data', (chunk) => { text += chunk; });
      child.once('exit', (code) => (code === 0 ? resolvePromise(text) : reject(new Error(`--install-extension exited with ${code}:\n${text}`))));
    });
    return output;
  } finally {
    await rm(tempDir, { recursive: true, force: true });
  }
}
