import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where a Hub token came from; the token itself is never logged or returned in results. */
export type HubTokenSource = 'argument' | 'HF_TOKEN' | 'token-file';

export interface HubToken {
  token: string;
  source: HubTokenSource;
  /** The token file, when the token came from one. */
  file?: string;
}

/** `HF_HOME`, else `XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`, as huggingface_hub does. */
function hfHomeDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['HF_HOME'] || join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'huggingface');
}

/** The token file `huggingface-cli login` writes: `HF_TOKEN_PATH`, else `<HF_HOME>/token`. */
export function hubTokenFile(env: NodeJS.ProcessEnv = process.env): string {
  return env['HF_TOKEN_PATH'] || join(hfHomeDir(env), 'token');
}

/**
 * Finds the Hub token: the explicit argument (the extension passes its SecretStorage value),
 * else `HF_TOKEN`, else the standard token file. Empty values count as absent.
 */
export async function resolveHubToken(
  explicit?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<HubToken | undefined> {
  const argument = explicit?.trim();
  if (argument) return { token: argument, source: 'argument' };
  const fromEnv = env['HF_TOKEN']?.trim();
  if (fromEnv) return { token: fromEnv, source: 'HF_TOKEN' };
  const file = hubTokenFile(env);
  try {
    const fromFile = (await readFile(file, 'utf8')).trim();
    if (fromFile) return { token: fromFile, source: 'token-file', file };
  } catch {
    // No token file is the normal state for anonymous downloads.
  }
  return undefined;
}

/** Replaces every occurrence of the secret in a text that may reach a log, an error or a result. */
export function redactSecret(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join('hf_***') : text;
}
