// Untrusted text (names, messages, error texts) passes through here before it
// reaches a terminal. Anything a terminal could interpret (C0 and C1 controls, DEL,
// the ESC that starts every escape sequence) or that reorders what is shown (bidi
// overrides and isolates) becomes a visible escape such as \x1b or \u202e.

// C0 except LF, DEL and C1, Arabic letter mark, LRM/RLM, line/paragraph separators,
// bidi embeddings/overrides (202A-202E) and isolates (2066-2069).
const UNSAFE_MULTILINE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_SINGLE_LINE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function visibleEscape(char: string): string {
  const code = char.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * Makes text safe to print. With `multiline`, newlines are kept (a multi-line
 * message stays multi-line); everything else unsafe, CR included, is escaped.
 */
export function sanitize(text: string, multiline = false): string {
  const pattern = multiline ? UNSAFE_MULTILINE : UNSAFE_SINGLE_LINE;
  pattern.lastIndex = 0;
  // Fast path: most text has nothing to escape.
  if (!pattern.test(text)) return text;
  pattern.lastIndex = 0;
  return text.replace(pattern, visibleEscape);
}
