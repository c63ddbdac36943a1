import { describe, expect, test } from "bun:test";
import { sanitize } from "../../src/sanitize.ts";
import { hostileString, mulberry32, picker } from "./seeded-random.ts";

// Everything a terminal would act on or that reorders what it shows.
const BIDI_AND_SEPARATORS = "\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069";
const INTERPRETABLE_SINGLE_LINE = new RegExp(`[\\x00-\\x1f\\x7f-\\x9f${BIDI_AND_SEPARATORS}]`);
const INTERPRETABLE_MULTILINE = new RegExp(`[\\x00-\\x09\\x0b-\\x1f\\x7f-\\x9f${BIDI_AND_SEPARATORS}]`);

const ATTACKS: Record<string, string> = {
  "CSI clear screen": "\x1b[2J\x1b[Hfake prompt> ",
  "CSI cursor moves": "hi\x1b[1A\x1b[10D\x1b[5;5Hover",
  "SGR colour": "\x1b[31mred\x1b[0m",
  "OSC 52 clipboard write": "\x1b]52;c;cm0gLXJmIH4K\x07",
  "OSC 8 hyperlink": "\x1b]8;;https://evil.example\x1b\\click me\x1b]8;;\x1b\\",
  "OSC 0 title set": "\x1b]0;pwned\x07",
  "DCS": "\x1bP+q544e\x1b\\",
  "8-bit CSI": "\x9b2J",
  "8-bit OSC and ST": "\x9d0;pwned\x9c",
  "C1 NEL": "line\x85next",
  "BEL": "ding\x07\x07",
  "backspace overwrite": "abc\b\b\bxyz",
  "carriage-return overwrite": "safe\rEVIL",
  "CRLF": "one\r\ntwo",
  "NUL": "a\x00b",
  "DEL": "a\x7fb",
  "vertical tab and form feed": "a\x0bb\x0cc",
  "tab": "a\tb",
  "bidi LRE RLE PDF LRO RLO": "\u202a\u202b\u202c\u202d\u202eevil.exe",
  "bidi isolates": "\u2066\u2067\u2068\u2069txt",
  "LRM RLM and Arabic letter mark": "a\u200eb\u200fc\u061cd",
  "line and paragraph separators": "a\u2028b\u2029c",
  "trojan source comment": "/* \u202e } \u2066if (admin)\u2069 \u2066 begin admins only */",
};

describe("sanitize: terminal attacks", () => {
  for (const [name, attack] of Object.entries(ATTACKS)) {
    test(`${name} cannot reach the terminal in single-line mode`, () => {
      expect(sanitize(attack)).not.toMatch(INTERPRETABLE_SINGLE_LINE);
    });
    test(`${name} cannot reach the terminal in multiline mode`, () => {
      expect(sanitize(attack, true)).not.toMatch(INTERPRETABLE_MULTILINE);
    });
  }
});

describe("sanitize: escapes stay visible", () => {
  test("ESC becomes the four characters \\x1b", () => {
    expect(sanitize("\x1b[2J")).toBe("\\x1b[2J");
  });

  test("an OSC title sequence is shown, not run", () => {
    expect(sanitize("\x1b]0;pwned\x07")).toBe("\\x1b]0;pwned\\x07");
  });

  test("8-bit CSI and C1 NEL are shown as \\x escapes", () => {
    expect(sanitize("\x9b2J")).toBe("\\x9b2J");
    expect(sanitize("a\x85b")).toBe("a\\x85b");
  });

  test("backspaces cannot overwrite what came before", () => {
    expect(sanitize("abc\b\b\bxyz")).toBe("abc\\x08\\x08\\x08xyz");
  });

  test("a carriage return cannot overwrite the line, even in multiline mode", () => {
    expect(sanitize("safe\rEVIL")).toBe("safe\\x0dEVIL");
    expect(sanitize("safe\rEVIL", true)).toBe("safe\\x0dEVIL");
  });

  test("NUL and DEL are shown", () => {
    expect(sanitize("a\x00b\x7f")).toBe("a\\x00b\\x7f");
  });

  test("tab is shown as \\x09", () => {
    expect(sanitize("a\tb")).toBe("a\\x09b");
    expect(sanitize("a\tb", true)).toBe("a\\x09b");
  });

  test("bidi controls are shown as \\u escapes", () => {
    expect(sanitize("\u202eexe.txt")).toBe("\\u202eexe.txt");
    expect(sanitize("\u2066x\u2069")).toBe("\\u2066x\\u2069");
    expect(sanitize("\u200e\u200f\u061c")).toBe("\\u200e\\u200f\\u061c");
  });

  test("line and paragraph separators are shown even in multiline mode", () => {
    expect(sanitize("a\u2028b\u2029c", true)).toBe("a\\u2028b\\u2029c");
  });
});

describe("sanitize: newlines", () => {
  test("a newline is escaped in single-line mode", () => {
    expect(sanitize("one\ntwo")).toBe("one\\x0atwo");
  });

  test("a newline is kept in multiline mode", () => {
    expect(sanitize("one\ntwo\n\nthree", true)).toBe("one\ntwo\n\nthree");
  });

  test("CRLF keeps the LF and shows the CR in multiline mode", () => {
    expect(sanitize("one\r\ntwo", true)).toBe("one\\x0d\ntwo");
  });
});

describe("sanitize: ordinary text", () => {
  test("plain ASCII is unchanged, in both modes", () => {
    const text = "Hello, world! 1 + 1 = 2 <tag> {json} [x] \"q\" 'a' ~`|\\";
    expect(sanitize(text)).toBe(text);
    expect(sanitize(text, true)).toBe(text);
  });

  test("non-Latin text and emoji are unchanged", () => {
    for (const text of ["你好，世界", "こんにちは", "مرحبا بالعالم", "שלום", "Привет", "😀👍🏽👨‍👩‍👧", "café naïve", "🇫🇷"]) {
      expect(sanitize(text)).toBe(text);
      expect(sanitize(text, true)).toBe(text);
    }
  });

  test("the empty string is unchanged", () => {
    expect(sanitize("")).toBe("");
  });

  test("sanitizing twice changes nothing more", () => {
    for (const attack of Object.values(ATTACKS)) {
      expect(sanitize(sanitize(attack))).toBe(sanitize(attack));
      expect(sanitize(sanitize(attack, true), true)).toBe(sanitize(attack, true));
    }
  });

  test("repeated calls give the same answer (no stale regex state)", () => {
    for (let i = 0; i < 3; i++) {
      expect(sanitize("a\x1bb")).toBe("a\\x1bb");
      expect(sanitize("plain")).toBe("plain");
      expect(sanitize("x\x07", true)).toBe("x\\x07");
    }
  });
});

// ---------------------------------------------------------------- fuzz

/** Whether a terminal would act on this UTF-16 unit; an independent restatement of the rule. */
function interpretable(code: number, multiline: boolean): boolean {
  if (code === 0x0a) return !multiline;
  return code <= 0x1f || (code >= 0x7f && code <= 0x9f) || code === 0x061c || code === 0x200e || code === 0x200f ||
    code === 0x2028 || code === 0x2029 || (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069);
}

/** The length sanitize must produce: each unsafe unit becomes \xNN (4) or \uNNNN (6). */
function expectedLength(text: string, multiline: boolean): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    length += interpretable(code, multiline) ? (code <= 0xff ? 4 : 6) : 1;
  }
  return length;
}

const FUZZ_SEED = 0xc0ffee;
const FUZZ_RUNS = 100_000;

test(`no interpretable control character survives sanitize on ${FUZZ_RUNS} random strings, in both modes (seed 0x${FUZZ_SEED.toString(16)})`, () => {
  const p = picker(mulberry32(FUZZ_SEED));
  for (let i = 0; i < FUZZ_RUNS; i++) {
    let text = hostileString(p);
    // Now and then any code unit at all, not just the hostile alphabet.
    if (p.chance(0.2)) text += String.fromCharCode(...Array.from({ length: p.int(20) }, () => p.int(0x10000)));
    const single = sanitize(text);
    const multi = sanitize(text, true);
    if (INTERPRETABLE_SINGLE_LINE.test(single)) throw new Error(`single-line output unsafe for ${JSON.stringify(text)}`);
    if (INTERPRETABLE_MULTILINE.test(multi)) throw new Error(`multiline output unsafe for ${JSON.stringify(text)}`);
    // Nothing else is touched: the lengths match exactly one escape per unsafe unit.
    if (single.length !== expectedLength(text, false)) {
      throw new Error(`single-line output has the wrong length for ${JSON.stringify(text)}`);
    }
    if (multi.length !== expectedLength(text, true)) {
      throw new Error(`multiline output has the wrong length for ${JSON.stringify(text)}`);
    }
    if (multi.split("\n").length !== text.split("\n").length) {
      throw new Error(`multiline output changed the line count for ${JSON.stringify(text)}`);
    }
  }
}, 60_000);
