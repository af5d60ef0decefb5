import type { ProgressTerminal } from './progress-bar';

/**
 * Where the CLI prints, and what interrupts it. Every line the CLI writes (results, --json, errors,
 * commander's usage errors and help, the spectral backend's message, the progress bar) goes through
 * `stdout` or `stderr`, so that a test can run `main` in its own process and capture both without
 * touching process.stdout, through which node:test's reporter talks to its parent.
 */
export interface CliIo {
  /** The result (words or one --json object), help and the version: nothing else, so that --json stays parseable. */
  stdout(text: string): void;
  /** Errors, refusals, messages and the progress bar. */
  stderr(text: string): void;
  /** Whether `stderr` is a terminal: the progress bar is drawn only there. */
  readonly isTTY?: boolean;
  /** The terminal's width, for the progress bar. */
  readonly columns?: number | undefined;
  /** Whether SIGINT and SIGTERM cancel the job (exit 130): the real process's, not a test's. */
  readonly handleSignals?: boolean;
  /** Cancels the job as Ctrl-C does (exit 130). */
  readonly signal?: AbortSignal;
}

/** The process's own streams and signals: what `checkpoint-surgeon` on a command line uses. */
export const processIo: CliIo = {
  stdout: (text) => { process.stdout.write(text); },
  stderr: (text) => { process.stderr.write(text); },
  get isTTY() { return process.stderr.isTTY === true; },
  get columns() { return process.stderr.columns; },
  handleSignals: true,
};

/** `io`'s stderr as the terminal the progress bar draws on. */
export function progressTerminal(io: CliIo): ProgressTerminal {
  return {
    get isTTY() { return io.isTTY === true; },
    get columns() { return io.columns; },
    write: (text) => io.stderr(text),
  };
}
