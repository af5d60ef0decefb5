import { HubApiError } from '@huggingface/hub';
import { cancelledError, isSurgeonError, SurgeonError } from '../errors';
import { redactSecret } from './hub-token';

export interface HubFailureContext {
  /** What was being done, as a phrase: "downloading org/name". */
  action: string;
  hubUrl: string;
  /** The token in use, so that no message can carry it. */
  token?: string;
  signal?: AbortSignal;
  /** Set when a time limit of the guarded fetch stopped the request. */
  timeoutReason?: string;
  file?: string;
}

/** Socket errors that mean the Hub could not be reached at all (as opposed to an HTTP answer). */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
]);

/** Turns whatever a Hub call threw into one SurgeonError a user can act on, with the token redacted. */
export function toHubError(error: unknown, context: HubFailureContext): SurgeonError {
  const redact = (text: string) => redactSecret(text, context.token);
  if (isSurgeonError(error)) {
    return new SurgeonError(error.rule, redact(error.detail), error.file, error.tensor);
  }
  if (context.signal?.aborted) return cancelledError(context.action, context.file);
  if (context.timeoutReason !== undefined) {
    return new SurgeonError(
      'hub',
      `${context.action}: ${context.hubUrl} gave ${context.timeoutReason} (network down, offline, or a proxy or firewall in the way?)`,
      context.file,
    );
  }
  if (error instanceof HubApiError) {
    return new SurgeonError('hub', redact(`${context.action}: ${describeStatus(error.statusCode, context.token)} (${error.message})`), context.file);
  }
  const message = error instanceof Error ? error.message : String(error);
  // Node's fetch says "terminated" when the socket closes mid-body; the library passes the bare text on.
  if (message === 'terminated') {
    return new SurgeonError('hub', `${context.action}: the connection closed before ${context.file ?? 'the answer'} was complete; run again to retry`, context.file);
  }
  const code = socketErrorCode(error);
  if (code !== undefined && UNREACHABLE_CODES.has(code)) {
    return new SurgeonError('hub', `${context.action}: cannot reach ${context.hubUrl} (${code}); check the network or work offline from the cache`, context.file);
  }
  return new SurgeonError('hub', redact(`${context.action} failed: ${message}`), context.file);
}

function describeStatus(status: number, token: string | undefined): string {
  if (status === 401) {
    return token
      ? 'the Hub refused the token (401): it is invalid, expired, or has no access to this repository'
      : 'the Hub asks for a token (401): the repository is private, gated or does not exist; set HF_TOKEN or log in';
  }
  if (status === 403) return 'access denied (403): a gated repository whose terms are not accepted, or a token without write access';
  if (status === 404) return 'not found (404): no such repository, revision or file (private repositories need a token)';
  if (status === 409) return 'conflict (409)';
  if (status === 429) return 'rate limited by the Hub (429); wait and try again';
  if (status >= 500) return `the Hub failed (${status}); try again later`;
  return `the Hub answered ${status}`;
}

/** Node's fetch reports socket failures as `TypeError: fetch failed` with the system error as cause. */
function socketErrorCode(error: unknown): string | undefined {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return undefined;
}
