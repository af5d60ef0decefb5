/** Entry of the report webview bundle (dist/webview.js). */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-tab-header/index.js';
import '@vscode-elements/elements/dist/vscode-tab-panel/index.js';
import '@vscode-elements/elements/dist/vscode-tabs/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
// esbuild writes the imported stylesheet next to the bundle as dist/webview.css, which the
// report panel links under its CSP.
import '../media/report.css';
import { ReportApp } from './app';
import { acquireHostApi } from './vscode-api';

const root = document.getElementById('app') ?? document.body.appendChild(document.createElement('main'));
new ReportApp(root, acquireHostApi());
