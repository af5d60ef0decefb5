import { SurgeonError } from '../errors';

/**
 * A strict JSON (RFC 8259) parser. `JSON.parse` silently keeps the last of two equal keys, so a
 * crafted header or index could show one value to us and another to a different reader; this
 * parser refuses duplicates instead. It also refuses escaped lone surrogates (which cannot be
 * encoded back to UTF-8, and which the Rust reference refuses too) and nesting past a fixed depth.
 */

/** Real headers, configs and indexes nest fewer than 20 levels; the bound keeps recursion off the stack limit. */
export const MAX_JSON_NESTING_DEPTH = 512;

export interface StrictJsonOptions {
  /**
   * Return number tokens written as plain integers (no fraction, no exponent) as `bigint`, so
   * that values past 2^53 stay exact and `2.0` or `1e3` can be told apart from `2` or `1000`.
   */
  integersAsBigInt?: boolean;
  /** Report a duplicate key of the top-level object as a tensor name (safetensors headers). */
  topLevelKeysAreTensors?: boolean;
}

export function parseStrictJson(text: string, file: string, options: StrictJsonOptions = {}): unknown {
  return new StrictJsonParser(text, file, options).parseDocument();
}

const enum Char {
  Tab = 0x09, LineFeed = 0x0a, CarriageReturn = 0x0d, Space = 0x20, Quote = 0x22, Plus = 0x2b,
  Comma = 0x2c, Minus = 0x2d, Dot = 0x2e, Slash = 0x2f, Zero = 0x30, Nine = 0x39, Colon = 0x3a,
  UpperE = 0x45, OpenBracket = 0x5b, Backslash = 0x5c, CloseBracket = 0x5d, LowerE = 0x65,
  OpenBrace = 0x7b, CloseBrace = 0x7d,
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t',
};

class StrictJsonParser {
  private position = 0;

  constructor(
    private readonly text: string,
    private readonly file: string,
    private readonly options: StrictJsonOptions,
  ) {}

  parseDocument(): unknown {
    this.skipWhitespace();
    const value = this.parseValue(0);
    this.skipWhitespace();
    if (this.position < this.text.length) {
      this.fail('unexpected content after the JSON value');
    }
    return value;
  }

  private parseValue(depth: number): unknown {
    if (depth > MAX_JSON_NESTING_DEPTH) {
      this.fail(`nesting deeper than ${MAX_JSON_NESTING_DEPTH} levels`);
    }
    const code = this.text.charCodeAt(this.position);
    switch (code) {
      case Char.OpenBrace: return this.parseObject(depth);
      case Char.OpenBracket: return this.parseArray(depth);
      case Char.Quote: return this.parseString();
      case 0x74: return this.parseLiteral('true', true);
      case 0x66: return this.parseLiteral('false', false);
      case 0x6e: return this.parseLiteral('null', null);
      default:
        if (code === Char.Minus || (code >= Char.Zero && code <= Char.Nine)) {
          return this.parseNumber();
        }
        return this.fail(Number.isNaN(code) ? 'unexpected end of input' : 'unexpected character');
    }
  }

  private parseObject(depth: number): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    this.position++;
    this.skipWhitespace();
    if (this.text.charCodeAt(this.position) === Char.CloseBrace) {
      this.position++;
      return result;
    }
    for (;;) {
      if (this.text.charCodeAt(this.position) !== Char.Quote) {
        this.fail('expected a string key');
      }
      const keyPosition = this.position;
      const key = this.parseString();
      if (Object.hasOwn(result, key)) {
        const asTensor = depth === 0 && this.options.topLevelKeysAreTensors === true;
        throw new SurgeonError(
          'duplicate-key',
          `duplicate JSON key ${JSON.stringify(key)} at character ${keyPosition}; a reader keeping either value would be guessing`,
          this.file,
          asTensor ? key : undefined,
        );
      }
      this.skipWhitespace();
      this.expect(Char.Colon, "expected ':'");
      this.skipWhitespace();
      const value = this.parseValue(depth + 1);
      if (key === '__proto__') {
        // An assignment would set the prototype; JSON.parse keeps "__proto__" an ordinary own property.
        Object.defineProperty(result, key, { value, enumerable: true, writable: true, configurable: true });
      } else {
        result[key] = value;
      }
      this.skipWhitespace();
      const next = this.text.charCodeAt(this.position++);
      if (next === Char.CloseBrace) return result;
      if (next !== Char.Comma) this.fail("expected ',' or '}'", this.position - 1);
      this.skipWhitespace();
    }
  }

  private parseArray(depth: number): unknown[] {
    const result: unknown[] = [];
    this.position++;
    this.skipWhitespace();
    if (this.text.charCodeAt(this.position) === Char.CloseBracket) {
      this.position++;
      return result;
    }
    for (;;) {
      result.push(this.parseValue(depth + 1));
      this.skipWhitespace();
      const next = this.text.charCodeAt(this.position++);
      if (next === Char.CloseBracket) return result;
      if (next !== Char.Comma) this.fail("expected ',' or ']'", this.position - 1);
      this.skipWhitespace();
    }
  }

  private parseString(): string {
    const text = this.text;
    let position = this.position + 1;
    let result = '';
    let chunkStart = position;
    for (;;) {
      const code = text.charCodeAt(position);
      if (Number.isNaN(code)) this.fail('unterminated string', position);
      if (code === Char.Quote) {
        result += text.slice(chunkStart, position);
        this.position = position + 1;
        return result;
      }
      if (code < Char.Space) this.fail('control character in string', position);
      if (code !== Char.Backslash) {
        position++;
        continue;
      }
      result += text.slice(chunkStart, position);
      const escape = text[position + 1];
      if (escape === 'u') {
        const unit = this.readHexUnit(position + 2);
        position += 6;
        if (unit >= 0xd800 && unit <= 0xdbff) {
          const low = text.startsWith('\\u', position) ? this.readHexUnit(position + 2) : -1;
          if (low < 0xdc00 || low > 0xdfff) this.fail('escaped high surrogate without its low surrogate', position);
          result += String.fromCharCode(unit, low);
          position += 6;
        } else if (unit >= 0xdc00 && unit <= 0xdfff) {
          this.fail('escaped lone low surrogate', position - 6);
        } else {
          result += String.fromCharCode(unit);
        }
      } else {
        const replacement = escape === undefined ? undefined : SIMPLE_ESCAPES[escape];
        if (replacement === undefined) this.fail('invalid escape in string', position);
        result += replacement;
        position += 2;
      }
      chunkStart = position;
    }
  }

  private readHexUnit(start: number): number {
    const digits = this.text.slice(start, start + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) this.fail('invalid \\u escape', start);
    return Number.parseInt(digits, 16);
  }

  private parseNumber(): number | bigint {
    const text = this.text;
    const start = this.position;
    let position = start;
    if (text.charCodeAt(position) === Char.Minus) position++;
    const firstDigit = text.charCodeAt(position);
    if (firstDigit === Char.Zero) {
      position++;
    } else if (firstDigit > Char.Zero && firstDigit <= Char.Nine) {
      position = this.skipDigits(position);
    } else {
      this.fail('invalid number', position);
    }
    let isInteger = true;
    if (text.charCodeAt(position) === Char.Dot) {
      isInteger = false;
      const afterDot = this.skipDigits(position + 1);
      if (afterDot === position + 1) this.fail('invalid number: no digits after the decimal point', position);
      position = afterDot;
    }
    const exponentMark = text.charCodeAt(position);
    if (exponentMark === Char.LowerE || exponentMark === Char.UpperE) {
      isInteger = false;
      position++;
      const sign = text.charCodeAt(position);
      if (sign === Char.Plus || sign === Char.Minus) position++;
      const afterExponent = this.skipDigits(position);
      if (afterExponent === position) this.fail('invalid number: no digits in the exponent', position);
      position = afterExponent;
    }
    this.position = position;
    const token = text.slice(start, position);
    if (isInteger && this.options.integersAsBigInt === true) return BigInt(token);
    return Number(token);
  }

  private skipDigits(position: number): number {
    let cursor = position;
    for (;;) {
      const code = this.text.charCodeAt(cursor);
      if (code < Char.Zero || code > Char.Nine || Number.isNaN(code)) return cursor;
      cursor++;
    }
  }

  private parseLiteral<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.position)) this.fail('unexpected character');
    this.position += word.length;
    return value;
  }

  private expect(code: number, message: string): void {
    if (this.text.charCodeAt(this.position) !== code) this.fail(message);
    this.position++;
  }

  private skipWhitespace(): void {
    for (;;) {
      const code = this.text.charCodeAt(this.position);
      if (code !== Char.Space && code !== Char.LineFeed && code !== Char.CarriageReturn && code !== Char.Tab) return;
      this.position++;
    }
  }

  private fail(message: string, at: number = this.position): never {
    throw new SurgeonError('invalid-json', `invalid JSON: ${message} at character ${at}`, this.file);
  }
}
