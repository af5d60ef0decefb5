/**
 * Time limits and cancellation for the library's HTTP calls. @huggingface/hub accepts a `fetch`
 * option but has no timeouts or AbortSignal for downloads, so a dead network or a stalled server
 * would hang a job forever; this wrapper bounds both and counts the bytes of file bodies.
 */

/**
 * Connect, TLS and the first response headers of a request without a body. The Hub answers API
 * calls and file redirects well within a second, so this long without headers means the network
 * is down, blocked or behind a proxy that swallows traffic.
 */
const RESPONSE_START_TIMEOUT_MS = 10_000;
/** A file body that sends nothing for this long is dead; healthy CDN transfers never pause this long. */
const BODY_STALL_TIMEOUT_MS = 60_000;

export interface GuardedFetchOptions {
  signal?: AbortSignal;
  responseStartTimeoutMs?: number;
  bodyStallTimeoutMs?: number;
  /** Called with each chunk's byte count of full-file GET bodies (requests without a Range header). */
  onBodyBytes?: (byteCount: number) => void;
}

export interface GuardedFetch {
  fetch: typeof fetch;
  /** Why the last request was stopped by a time limit, if one was. */
  timeoutReason(): string | undefined;
}

export function createGuardedFetch(options: GuardedFetchOptions = {}): GuardedFetch {
  const startTimeout = options.responseStartTimeoutMs ?? RESPONSE_START_TIMEOUT_MS;
  const stallTimeout = options.bodyStallTimeoutMs ?? BODY_STALL_TIMEOUT_MS;
  let lastTimeout: string | undefined;

  const guarded = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    options.signal?.throwIfAborted();
    const controller = new AbortController();
    const forward = (source: AbortSignal) => () => controller.abort(source.reason);
    const callerSignals = [options.signal, init?.signal ?? undefined].filter((s): s is AbortSignal => s !== undefined);
    const listeners = callerSignals.map((signal) => {
      const listener = forward(signal);
      signal.addEventListener('abort', listener, { once: true });
      return { signal, listener };
    });
    let timer: NodeJS.Timeout | undefined;
    const stopAfter = (ms: number, reason: string) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        lastTimeout = reason;
        controller.abort(new Error(reason));
      }, ms);
      // A pending limit must not keep the process alive on its own.
      timer.unref();
    };
    const release = () => {
      clearTimeout(timer);
      for (const { signal, listener } of listeners) signal.removeEventListener('abort', listener);
    };

    // Uploads only get their response after the whole body is sent, so only body-less requests
    // get the response-start limit; the socket's own connect timeout still bounds the others.
    const hasBody = init?.body !== undefined && init.body !== null;
    if (!hasBody) stopAfter(startTimeout, `no response within ${startTimeout / 1000} s`);

    let response: Response;
    try {
      response = await fetch(input, { ...init, signal: controller.signal });
    } catch (error) {
      release();
      throw error;
    }
    if (response.body === null) {
      release();
      return response;
    }

    const method = (init?.method ?? 'GET').toUpperCase();
    const countsBytes = method === 'GET' && !new Headers(init?.headers).has('range') && response.ok;
    clearTimeout(timer);
    const reader = response.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      // The stall limit runs only while a reader waits for data: a body the library leaves unread
      // (the size probe) or reads slowly under backpressure is not a stalled server.
      async pull(streamController) {
        try {
          stopAfter(stallTimeout, `no data for ${stallTimeout / 1000} s`);
          const chunk = await reader.read();
          clearTimeout(timer);
          if (chunk.done) {
            release();
            streamController.close();
            return;
          }
          if (countsBytes) options.onBodyBytes?.(chunk.value.byteLength);
          streamController.enqueue(chunk.value);
        } catch (error) {
          release();
          streamController.error(error);
        }
      },
      async cancel(reason) {
        release();
        await reader.cancel(reason);
      },
    });
    const wrapped = new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
    // The library compares `response.url` with the Hub's origin to decide where to download from.
    Object.defineProperty(wrapped, 'url', { value: response.url });
    return wrapped;
  };

  return { fetch: guarded as typeof fetch, timeoutReason: () => lastTimeout };
}
