/** The typed handle on the host that VS Code injects into webviews as `acquireVsCodeApi`. */
import type { FromWebviewMessage, WebviewState } from '../src/shared/webview-protocol';

export interface HostApi {
  postMessage(message: FromWebviewMessage): void;
  getState(): WebviewState | undefined;
  setState(state: WebviewState): void;
}

declare function acquireVsCodeApi(): HostApi;

/** May be called once per page load (VS Code throws on a second call), hence called only in main. */
export function acquireHostApi(): HostApi {
  return acquireVsCodeApi();
}
