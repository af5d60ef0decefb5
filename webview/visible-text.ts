/**
 * Splits text from a file into plain runs and invisible control characters, so the view can show
 * the controls as visible markers. A bidi override (U+202E) in a tensor name or token would
 * otherwise reorder what the user reads ("Trojan Source"); zero-width characters would hide
 * differences between two names that look the same.
 */

export interface TextRun {
  text: string;
  /** True for one control character; `text` is then its marker, e.g. `U+202E`. */
  control: boolean;
}

// Bidi embeddings/overrides/isolates and marks, zero-width characters, other C0/C1 controls
// except tab and newline (chat templates carry those legitimately).
const CONTROL_CHARACTER = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/u;

export function splitControlCharacters(text: string): TextRun[] {
  const runs: TextRun[] = [];
  let plain = '';
  for (const character of text) {
    if (CONTROL_CHARACTER.test(character)) {
      if (plain !== '') runs.push({ text: plain, control: false });
      plain = '';
      const codePoint = character.codePointAt(0) ?? 0;
      runs.push({ text: `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`, control: true });
    } else {
      plain += character;
    }
  }
  if (plain !== '' || runs.length === 0) runs.push({ text: plain, control: false });
  return runs;
}

/** One-line form for places that take a plain string (canvas labels, CSV cells stay raw). */
export function visibleText(text: string): string {
  return splitControlCharacters(text).map((run) => (run.control ? `⟨${run.text}⟩` : run.text)).join('');
}
