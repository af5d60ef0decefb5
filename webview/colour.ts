/** CSS colour parsing and mixing for chart colours derived from the VS Code theme. Pure. */

export interface Rgba {
  r: number;
  g: number;
  b: number;
  a: number;
}

const HEX = /^#([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/iu;
const RGB_FUNCTION = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)(?:[\s,/]+([\d.]+%?))?\s*\)$/iu;

/** `#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa`, `rgb()`/`rgba()`; null for anything else. */
export function parseCssColour(text: string): Rgba | null {
  const value = text.trim();
  const hex = HEX.exec(value)?.[1];
  if (hex !== undefined) {
    const digits = hex.length <= 4 ? [...hex].map((digit) => digit + digit) : hex.match(/../gu) ?? [];
    const [r = 0, g = 0, b = 0, a = 255] = digits.map((pair) => Number.parseInt(pair, 16));
    return { r, g, b, a: a / 255 };
  }
  const match = RGB_FUNCTION.exec(value);
  if (match === null) return null;
  const alphaText = match[4];
  const alpha = alphaText === undefined ? 1
    : alphaText.endsWith('%') ? Number.parseFloat(alphaText) / 100 : Number.parseFloat(alphaText);
  return { r: Number(match[1]), g: Number(match[2]), b: Number(match[3]), a: alpha };
}

/** Linear mix: t = 0 gives `from`, t = 1 gives `to`. */
export function mixColours(from: Rgba, to: Rgba, t: number): Rgba {
  const mix = (x: number, y: number): number => x + (y - x) * t;
  return { r: mix(from.r, to.r), g: mix(from.g, to.g), b: mix(from.b, to.b), a: mix(from.a, to.a) };
}

export function toCss(colour: Rgba): string {
  const channel = (value: number): number => Math.round(Math.min(255, Math.max(0, value)));
  return `rgba(${channel(colour.r)}, ${channel(colour.g)}, ${channel(colour.b)}, ${Number(colour.a.toFixed(3))})`;
}
