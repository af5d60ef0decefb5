/**
 * The CLI run in the test's own process: `main(argv, io)` with io capturing stdout and stderr as
 * strings. Spawning `node --import tsx src/cli/main.ts` costs about a second a run; this costs the
 * job. Tests that need a real process (its exit status, a signal, a kill) spawn it with `cliProcessArgs`.
 *
 * node:test's reporter writes to this process's stdout, so nothing here touches process.stdout.
 */
import { resolve } from 'node:path';
import { main } from '../../src/cli/main';

export interface CliRun {
  /** The exit code main resolved to. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliRunOptions {
  /**
   * Variables set (a string) or removed (undefined) in process.env for the run, and restored after it.
   * HF_HUB_OFFLINE is '1' unless given here: a unit test never reaches the real Hub.
   */
  env?: Record<string, string | undefined>;
  /** The working folder for the run (process.chdir), restored after it. */
  cwd?: string;
  /** Cancels the run as Ctrl-C would. */
  signal?: AbortSignal;
  /** Pretend stderr is a terminal of this many columns, so that the progress bar is drawn into `stderr`. */
  terminalColumns?: number;
}

const CLI_MAIN = resolve(__dirname, '../../src/cli/main.ts');
/** Node arguments that run the CLI from its sources, for tests that spawn the real thing: `spawn(process.execPath, [...cliProcessArgs, ...args])`. */
export const cliProcessArgs: readonly string[] = ['--import', 'tsx', CLI_MAIN];

/** Runs `checkpoint-surgeon ...args` in this process, offline. */
export function runCli(...args: string[]): Promise<CliRun> {
  return runCliWith({}, ...args);
}

/** Runs `checkpoint-surgeon ...args` in this process with `options`' environment, folder or signal. */
export async function runCliWith(options: CliRunOptions, ...args: string[]): Promise<CliRun> {
  const captured = { stdout: '', stderr: '' };
  const env: Record<string, string | undefined> = { HF_HUB_OFFLINE: '1', ...options.env };
  const previousEnv = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
  const previousCwd = process.cwd();
  setEnv(env);
  try {
    if (options.cwd !== undefined) process.chdir(options.cwd);
    const code = await main(args, {
      stdout: (text) => { captured.stdout += text; },
      stderr: (text) => { captured.stderr += text; },
      isTTY: options.terminalColumns !== undefined,
      columns: options.terminalColumns,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { code, ...captured };
  } finally {
    process.chdir(previousCwd);
    setEnv(previousEnv);
  }
}

function setEnv(values: Record<string, string | undefined>): void {
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
}
