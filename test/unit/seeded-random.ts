// Deterministic randomness for the fuzz tests: a failing seed reproduces exactly.

/** mulberry32: a tiny 32-bit PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Picker {
  /** An integer in [0, n). */
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
}

export function picker(random: () => number): Picker {
  const int = (n: number) => Math.floor(random() * n);
  return {
    int,
    pick<T>(items: readonly T[]): T {
      return items[int(items.length)] as T;
    },
    chance: (p) => random() < p,
  };
}

/**
 * Single UTF-16 code units that stress parsers and terminals: JSON punctuation,
 * blanks, C0/C1 controls, DEL, bidi controls, line separators, lone surrogates,
 * non-Latin letters and emoji halves.
 */
export const HOSTILE_UNITS: readonly string[] = [
  ..."{}[]\":,\\/ abcXYZ019#._-",
  "\t", "\n", "\r", "\f", "\v", "\0", "\x07", "\b", "\x1b", "\x7f",
  "\x80", "\x85", "\x9b", "\x9c", "\x9f", "\xa0", "é", "ß",
  "\u061c", "\u200e", "\u200f", "\u2028", "\u2029",
  "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
  "\u2066", "\u2067", "\u2068", "\u2069", "\ufeff", "\uffff",
  "\ud800", "\udbff", "\udc00", "\udfff", "中", "ع", "😀",
];

/** A random string of hostile units, usually short, one time in 200 thousands of units long. */
export function hostileString(p: Picker): string {
  const length = p.chance(0.005) ? 1000 + p.int(5000) : p.int(40);
  let text = "";
  for (let i = 0; i < length; i++) text += p.pick(HOSTILE_UNITS);
  return text;
}
