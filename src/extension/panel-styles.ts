/**
 * The styles every server-rendered view shares (Inspect, Verify, the LoRA adapter): the editor's font and colours,
 * plain tables with a ruled header row, notes and the rule of an issue. Each view adds its own after these.
 */
export const PANEL_BASE_CSS = `body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 16px 16px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { text-align: left; padding: 2px 12px 2px 0; vertical-align: top; }
th { border-bottom: 1px solid var(--vscode-panel-border); }
.note { color: var(--vscode-descriptionForeground); }
.issue .rule { font-family: var(--vscode-editor-font-family); color: var(--vscode-descriptionForeground); }
.issue.warning .rule { color: var(--vscode-editorWarning-foreground); }`;
