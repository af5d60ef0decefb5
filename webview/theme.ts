/**
 * Chart colours from the VS Code theme. VS Code sets `--vscode-*` variables on <html> and a
 * `vscode-light` / `vscode-dark` / `vscode-high-contrast` class on <body>; canvases cannot use CSS
 * variables, so the colours are read here and the charts redraw when the theme changes.
 */
import { parseCssColour, type Rgba } from './colour';

export interface ThemeColours {
  foreground: Rgba;
  background: Rgba;
  /** The hot end of the heatmap and the histogram bars. */
  accent: Rgba;
  bars: Rgba;
  grid: Rgba;
  /** The keyboard focus ring drawn on a canvas (the heatmap's focused cell). */
  focus: Rgba;
  /** True on light backgrounds: the spectra palette swaps its yellow for black there. */
  light: boolean;
  /** Cell borders; set in high contrast themes only. */
  contrastBorder: Rgba | null;
  fontFamily: string;
  fontSize: number;
  highContrast: boolean;
}

const FALLBACK = {
  foreground: { r: 204, g: 204, b: 204, a: 1 },
  background: { r: 30, g: 30, b: 30, a: 1 },
  accent: { r: 241, g: 76, b: 76, a: 1 },
  bars: { r: 55, g: 148, b: 255, a: 1 },
  focus: { r: 0, g: 120, b: 212, a: 1 },
};

/** WCAG relative luminance of an sRGB colour, 0 (black) to 1 (white). */
function relativeLuminance(colour: Rgba): number {
  const linear = (channel: number): number => {
    const c = channel / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * linear(colour.r) + 0.7152 * linear(colour.g) + 0.0722 * linear(colour.b);
}

function variable(style: CSSStyleDeclaration, name: string): string {
  return style.getPropertyValue(name).trim();
}

function colour(style: CSSStyleDeclaration, names: readonly string[], fallback: Rgba): Rgba {
  for (const name of names) {
    const parsed = parseCssColour(variable(style, name));
    if (parsed !== null) return parsed;
  }
  return fallback;
}

export function readThemeColours(): ThemeColours {
  const style = getComputedStyle(document.documentElement);
  const foreground = colour(style, ['--vscode-foreground', '--vscode-editor-foreground'], FALLBACK.foreground);
  const background = colour(style, ['--vscode-editor-background'], FALLBACK.background);
  const highContrast = document.body.classList.contains('vscode-high-contrast')
    || document.body.classList.contains('vscode-high-contrast-light');
  const border = parseCssColour(variable(style, '--vscode-contrastBorder'));
  return {
    foreground,
    background,
    accent: colour(style, ['--vscode-charts-red', '--vscode-errorForeground'], FALLBACK.accent),
    bars: colour(style, ['--vscode-charts-blue', '--vscode-focusBorder'], FALLBACK.bars),
    grid: { ...foreground, a: 0.15 },
    focus: colour(style, ['--vscode-focusBorder', '--vscode-contrastActiveBorder'], FALLBACK.focus),
    light: relativeLuminance(background) > 0.5,
    contrastBorder: highContrast ? border ?? foreground : null,
    fontFamily: variable(style, '--vscode-font-family') || 'system-ui, sans-serif',
    fontSize: Number.parseFloat(variable(style, '--vscode-font-size')) || 13,
    highContrast,
  };
}

/** Calls `onChange` when the theme's class or variables change. */
export function watchTheme(onChange: () => void): void {
  const observer = new MutationObserver(() => onChange());
  observer.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
}
