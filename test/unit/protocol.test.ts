import { describe, expect, test } from "bun:test";
import {
  encode,
  ERROR_CODES,
  errorFrame,
  exceedsBytes,
  nameProblem,
  normaliseRoom,
  parseClientFrame,
  parseServerFrame,
  timestamp,
  type ParseResult,
  type ServerFrame,
} from "../../src/protocol.ts";
import { hostileString, HOSTILE_UNITS, mulberry32, picker, type Picker } from "./seeded-random.ts";

const LIMITS = { maxContentBytes: 4096 };
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const parse = (text: string) => parseClientFrame(text, LIMITS);
const json = (value: unknown) => parse(JSON.stringify(value));

function errorOf(result: ParseResult) {
  if (result.ok) throw new Error(`expected an error, got ${JSON.stringify(result.frame)}`);
  return result.error;
}

describe("parseClientFrame: plain text", () => {
  test("text that does not start with '{' is a message to the current room, as sent", () => {
    expect(parse("hello")).toStrictEqual({ ok: true, frame: { type: "message", content: "hello" } });
  });

  test("leading and trailing blanks of plain text are kept", () => {
    expect(parse("  hi there \n")).toStrictEqual({ ok: true, frame: { type: "message", content: "  hi there \n" } });
  });

  test("JSON that does not start with '{' is plain text", () => {
    for (const text of ["[1]", '"x"', "123", "null", "true", '[{"type":"ping"}]']) {
      expect(parse(text)).toStrictEqual({ ok: true, frame: { type: "message", content: text } });
    }
  });

  test("a '{' after other text is plain text", () => {
    expect(parse('x{"type":"ping"}')).toStrictEqual({ ok: true, frame: { type: "message", content: 'x{"type":"ping"}' } });
  });

  test("a non-ASCII blank before '{' makes the frame plain text", () => {
    const text = '\u00a0{"type":"ping"}';
    expect(parse(text)).toStrictEqual({ ok: true, frame: { type: "message", content: text } });
  });

  test("empty plain text is refused as bad_frame", () => {
    expect(errorOf(parse("")).code).toBe("bad_frame");
  });

  test("whitespace-only plain text is refused as bad_frame", () => {
    for (const text of [" ", "   ", "\t", "\r\n", " \n \t ", "\u00a0\u3000"]) {
      expect(errorOf(parse(text)).code).toBe("bad_frame");
    }
  });

  test("plain text is limited like JSON content", () => {
    expect(errorOf(parse("a".repeat(4097))).code).toBe("too_long");
    expect(parse("a".repeat(4096)).ok).toBe(true);
  });
});

describe("parseClientFrame: JSON frames", () => {
  test("blanks before '{' still make a JSON frame", () => {
    expect(parse(' \t\r\n{"type":"ping"}')).toStrictEqual({ ok: true, frame: { type: "ping" } });
  });

  test("a ping is a ping", () => {
    expect(json({ type: "ping" })).toStrictEqual({ ok: true, frame: { type: "ping" } });
  });

  test("a message frame keeps its content", () => {
    expect(json({ type: "message", content: "hi" })).toStrictEqual({ ok: true, frame: { type: "message", content: "hi" } });
  });

  test("a message frame keeps its room and ref", () => {
    expect(json({ type: "message", content: "hi", room: "dev", ref: "r-1" })).toStrictEqual({
      ok: true,
      frame: { type: "message", content: "hi", room: "dev", ref: "r-1" },
    });
  });

  test("a leading '#' on the room is dropped", () => {
    expect(json({ type: "message", content: "hi", room: "#dev" })).toStrictEqual({
      ok: true,
      frame: { type: "message", content: "hi", room: "dev" },
    });
  });

  test("an uppercase room is refused as bad_room, with the ref", () => {
    const error = errorOf(json({ type: "message", content: "hi", room: "Dev", ref: "r1" }));
    expect(error.code).toBe("bad_room");
    expect(error.ref).toBe("r1");
    expect(error.content).toContain("'Dev'");
  });

  test("rooms that break the rules are refused as bad_room; a room that is not a string is a bad_frame", () => {
    for (const room of ["", "#", "##dev", "a b", "a.b", "dév", "x".repeat(65)]) {
      expect(errorOf(json({ type: "message", content: "hi", room })).code).toBe("bad_room");
      expect(errorOf(json({ type: "join", room })).code).toBe("bad_room");
    }
    for (const room of [5, null, true, [], {}]) {
      expect(errorOf(json({ type: "message", content: "hi", room })).code).toBe("bad_frame");
      expect(errorOf(json({ type: "join", room })).code).toBe("bad_frame");
      expect(errorOf(json({ type: "leave", room })).code).toBe("bad_frame");
    }
  });

  test("a 64-character room is accepted", () => {
    const room = "r".repeat(64);
    expect(json({ type: "message", content: "hi", room })).toStrictEqual({ ok: true, frame: { type: "message", content: "hi", room } });
  });

  test("extra fields are ignored", () => {
    expect(json({ type: "message", content: "hi", extra: [1, 2], since: 5 })).toStrictEqual({
      ok: true,
      frame: { type: "message", content: "hi" },
    });
  });

  test("a '__proto__' key does not confuse the parser", () => {
    const result = parse('{"__proto__":{"type":"ping"},"type":"message","content":"hi"}');
    expect(result).toStrictEqual({ ok: true, frame: { type: "message", content: "hi" } });
  });
});

describe("parseClientFrame: the other frames of PROTOCOL.md", () => {
  test("join names a room, '#' dropped, with an optional since and ref", () => {
    expect(json({ type: "join", room: "#dev" })).toStrictEqual({ ok: true, frame: { type: "join", room: "dev" } });
    expect(json({ type: "join", room: "dev", since: 0, ref: "j1" })).toStrictEqual({
      ok: true,
      frame: { type: "join", room: "dev", since: 0, ref: "j1" },
    });
  });

  test("join without a room is bad_frame and with a bad room is bad_room", () => {
    expect(errorOf(json({ type: "join" })).code).toBe("bad_frame");
    expect(errorOf(json({ type: "join", room: "Dev", ref: "j1" }))).toMatchObject({ code: "bad_room", ref: "j1" });
  });

  test("join with a since that is not a whole number of 0 or more is bad_frame", () => {
    for (const since of [-1, 1.5, "3", null, 2 ** 53]) {
      expect(errorOf(json({ type: "join", room: "dev", since })).code).toBe("bad_frame");
    }
  });

  test("leave names a room", () => {
    expect(json({ type: "leave", room: "#dev", ref: "l1" })).toStrictEqual({ ok: true, frame: { type: "leave", room: "dev", ref: "l1" } });
    expect(errorOf(json({ type: "leave" })).code).toBe("bad_frame");
    expect(errorOf(json({ type: "leave", room: "a b" })).code).toBe("bad_room");
  });

  test("nick carries a name string, checked later against the name rules", () => {
    expect(json({ type: "nick", name: "alice" })).toStrictEqual({ ok: true, frame: { type: "nick", name: "alice" } });
    for (const name of [undefined, 5, null, ["alice"]]) expect(errorOf(json({ type: "nick", name })).code).toBe("bad_frame");
  });

  test("who has an optional room", () => {
    expect(json({ type: "who" })).toStrictEqual({ ok: true, frame: { type: "who" } });
    expect(json({ type: "who", room: "#dev" })).toStrictEqual({ ok: true, frame: { type: "who", room: "dev" } });
    expect(errorOf(json({ type: "who", room: "DEV" })).code).toBe("bad_room");
  });

  test("direct needs a recipient and content under the same rules as a message", () => {
    expect(json({ type: "direct", to: "bob", content: "psst", ref: "d1" })).toStrictEqual({
      ok: true,
      frame: { type: "direct", to: "bob", content: "psst", ref: "d1" },
    });
    for (const to of [undefined, "", 5]) expect(errorOf(json({ type: "direct", to, content: "psst" })).code).toBe("bad_frame");
    expect(errorOf(json({ type: "direct", to: "bob" })).code).toBe("bad_frame");
    expect(errorOf(json({ type: "direct", to: "bob", content: "  " })).code).toBe("bad_frame");
    expect(errorOf(json({ type: "direct", to: "bob", content: "é".repeat(2049), ref: "d2" }))).toMatchObject({ code: "too_long", ref: "d2" });
  });
});

describe("parseClientFrame: refused frames", () => {
  test("text starting with '{' that is not JSON is bad_json", () => {
    for (const text of ["{", "{type:'ping'}", '{"type":"ping"', '{"type":"ping"} x', "  {]", '{"a":1,}']) {
      const error = errorOf(parse(text));
      expect(error.code).toBe("bad_json");
      expect(error.ref).toBeUndefined();
    }
  });

  test("a frame without a type string is bad_frame", () => {
    for (const frame of [{}, { content: "hi" }, { type: 5 }, { type: null }, { type: ["message"] }, { type: { x: 1 } }]) {
      expect(errorOf(json(frame)).code).toBe("bad_frame");
    }
  });

  test("an unknown type is bad_frame and names the type", () => {
    const error = errorOf(json({ type: "teleport" }));
    expect(error.code).toBe("bad_frame");
    expect(error.content).toContain("teleport");
  });

  test("types are case-sensitive", () => {
    expect(errorOf(json({ type: "Message", content: "hi" })).code).toBe("bad_frame");
    expect(errorOf(json({ type: "PING" })).code).toBe("bad_frame");
  });

  test("a long unknown type is shortened in the error text", () => {
    const error = errorOf(json({ type: "t".repeat(1000) }));
    expect(error.code).toBe("bad_frame");
    expect(error.content.length).toBeLessThan(100);
  });

  test("a message without string content is bad_frame", () => {
    for (const content of [undefined, 5, null, true, ["hi"], { text: "hi" }]) {
      expect(errorOf(json({ type: "message", content })).code).toBe("bad_frame");
    }
  });

  test("empty or whitespace-only content is bad_frame", () => {
    for (const content of ["", " ", "\n\t \r"]) {
      expect(errorOf(json({ type: "message", content })).code).toBe("bad_frame");
    }
  });

  test("a ref that is not a string of 1 to 64 characters is bad_frame without a ref", () => {
    for (const ref of ["", "r".repeat(65), 5, null, true, ["r"], { r: 1 }]) {
      const error = errorOf(json({ type: "message", content: "hi", ref }));
      expect(error.code).toBe("bad_frame");
      expect(error.ref).toBeUndefined();
      expect("ref" in error).toBe(false);
    }
  });

  test("a 64-character ref is accepted", () => {
    const ref = "r".repeat(64);
    expect(json({ type: "message", content: "hi", ref })).toStrictEqual({ ok: true, frame: { type: "message", content: "hi", ref } });
  });

  test("a bad ref is reported before an unknown type", () => {
    expect(errorOf(json({ type: "teleport", ref: "" })).content).toContain("ref");
  });
});

describe("parseClientFrame: content size in UTF-8 bytes", () => {
  test("2048 two-byte characters (4096 bytes) fit", () => {
    const content = "é".repeat(2048);
    expect(json({ type: "message", content })).toStrictEqual({ ok: true, frame: { type: "message", content } });
  });

  test("2049 two-byte characters (4098 bytes) are too_long", () => {
    const error = errorOf(json({ type: "message", content: "é".repeat(2049) }));
    expect(error.code).toBe("too_long");
    expect(error.content).toContain("4096");
  });

  test("1024 emoji (4096 bytes) fit and 1025 are too_long", () => {
    expect(json({ type: "message", content: "😀".repeat(1024) }).ok).toBe(true);
    expect(errorOf(json({ type: "message", content: "😀".repeat(1025) })).code).toBe("too_long");
  });

  test("1365 three-byte characters (4095 bytes) fit and 1366 are too_long", () => {
    expect(json({ type: "message", content: "中".repeat(1365) }).ok).toBe(true);
    expect(errorOf(json({ type: "message", content: "中".repeat(1366) })).code).toBe("too_long");
  });

  test("4096 ASCII characters fit and 4097 are too_long", () => {
    expect(json({ type: "message", content: "a".repeat(4096) }).ok).toBe(true);
    expect(errorOf(json({ type: "message", content: "a".repeat(4097) })).code).toBe("too_long");
  });

  test("the limit is the one passed in", () => {
    expect(parseClientFrame("ééé", { maxContentBytes: 6 }).ok).toBe(true);
    expect(errorOf(parseClientFrame("ééé", { maxContentBytes: 5 })).code).toBe("too_long");
  });
});

describe("parseClientFrame: errors carry the ref", () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ["missing type", { ref: "r1" }, "bad_frame"],
    ["unknown type", { type: "teleport", ref: "r1" }, "bad_frame"],
    ["content not a string", { type: "message", content: 5, ref: "r1" }, "bad_frame"],
    ["empty content", { type: "message", content: " ", ref: "r1" }, "bad_frame"],
    ["bad room", { type: "message", content: "hi", room: "A", ref: "r1" }, "bad_room"],
    ["too long", { type: "message", content: "x".repeat(5000), ref: "r1" }, "too_long"],
  ];
  for (const [what, frame, code] of cases) {
    test(`a frame refused for ${what} gets ${code} with its ref`, () => {
      const error = errorOf(json(frame));
      expect(error.code).toBe(code as (typeof ERROR_CODES)[number]);
      expect(error.ref).toBe("r1");
    });
  }
});

describe("exceedsBytes", () => {
  test("counts UTF-8 bytes, not UTF-16 units", () => {
    expect(exceedsBytes("é".repeat(3), 6)).toBe(false);
    expect(exceedsBytes("é".repeat(3), 5)).toBe(true);
    expect(exceedsBytes("€", 3)).toBe(false);
    expect(exceedsBytes("€", 2)).toBe(true);
    expect(exceedsBytes("😀", 4)).toBe(false);
    expect(exceedsBytes("😀", 3)).toBe(true);
  });

  test("is exact at the boundary for ASCII", () => {
    expect(exceedsBytes("", 0)).toBe(false);
    expect(exceedsBytes("a", 0)).toBe(true);
    expect(exceedsBytes("abc", 3)).toBe(false);
    expect(exceedsBytes("abcd", 3)).toBe(true);
  });

  test("takes the shortcuts only where they are right", () => {
    // length * 3 <= max: cannot exceed even at 3 bytes per unit
    expect(exceedsBytes("中中", 6)).toBe(false);
    // length > max: exceeds even at 1 byte per unit
    expect(exceedsBytes("aaaa", 3)).toBe(true);
    // in between, the real count decides
    expect(exceedsBytes("a中", 4)).toBe(false);
    expect(exceedsBytes("中中", 5)).toBe(true);
  });

  test("counts a lone surrogate as the 3 bytes of its replacement character", () => {
    expect(exceedsBytes("\ud800", 3)).toBe(false);
    expect(exceedsBytes("\ud800", 2)).toBe(true);
  });

  test("agrees with TextEncoder on random strings (seed 0xb17e5)", () => {
    const p = picker(mulberry32(0xb17e5));
    const encoder = new TextEncoder();
    for (let i = 0; i < 20_000; i++) {
      const text = hostileString(p);
      const bytes = encoder.encode(text).length;
      const max = Math.max(0, bytes + p.int(7) - 3);
      if (exceedsBytes(text, max) !== bytes > max) {
        throw new Error(`exceedsBytes(${JSON.stringify(text)}, ${max}) disagrees with ${bytes} bytes`);
      }
    }
  });
});

describe("nameProblem", () => {
  test("accepts 1 to 32 letters, digits, '_', '-' and '.'", () => {
    for (const name of ["a", "alice", "Alice_B-2.0", "x".repeat(32), "0", "...", "_-_", "User", "Users", "UserX", "user_1", "my-User-x"]) {
      expect(nameProblem(name)).toBeUndefined();
    }
  });

  test("refuses empty, too long and other characters", () => {
    for (const name of ["", "x".repeat(33), "a b", "al!ce", "a/b", "a\n", "\nb", "a\u0000", "#room", "a@b"]) {
      expect(nameProblem(name)).toBeString();
    }
  });

  test("refuses non-ASCII letters", () => {
    for (const name of ["émile", "名前", "Ålice", "ﬁle", "a\u200eb", "😀"]) {
      expect(nameProblem(name)).toBeString();
    }
  });

  test("refuses the reserved 'User-' prefix in any case", () => {
    for (const name of ["User-", "User-abcde", "user-x", "USER-X", "uSeR-1"]) {
      expect(nameProblem(name)).toContain("reserved");
    }
  });
});

describe("normaliseRoom", () => {
  test("accepts lowercase letters, digits, '_' and '-'", () => {
    for (const room of ["lobby", "a", "dev-2_x", "0", "r".repeat(64)]) expect(normaliseRoom(room)).toBe(room);
  });

  test("drops one leading '#'", () => {
    expect(normaliseRoom("#lobby")).toBe("lobby");
    expect(normaliseRoom("##lobby")).toBeUndefined();
  });

  test("refuses anything else", () => {
    for (const room of ["", "#", "Lobby", "a b", "a.b", "lobby\n", "dév", "r".repeat(65), "#" + "r".repeat(65), "lob#by"]) {
      expect(normaliseRoom(room)).toBeUndefined();
    }
  });
});

describe("server frames", () => {
  test("timestamp is ISO 8601 UTC with milliseconds", () => {
    expect(timestamp()).toMatch(ISO_MS);
    expect(timestamp(new Date(Date.UTC(2025, 6, 29, 12, 34, 56, 789)))).toBe("2025-07-29T12:34:56.789Z");
    expect(timestamp(new Date(Date.UTC(2025, 0, 1, 0, 0, 0, 0)))).toBe("2025-01-01T00:00:00.000Z");
  });

  test("encode is one line of JSON that reads back the same", () => {
    const frame: ServerFrame = {
      type: "message", id: 7, room: "lobby", userId: "User-ab123", name: "alice",
      content: "line 1\nline 2 \u2028 \"quoted\"", timestamp: "2025-07-29T12:34:56.789Z",
    };
    const text = encode(frame);
    expect(text).not.toContain("\n");
    expect(JSON.parse(text)).toStrictEqual(frame);
  });

  test("encode writes lone surrogates as escapes, so the frame is valid UTF-8", () => {
    const text = encode({ type: "system", event: "notice", content: "a\ud800b", timestamp: timestamp() });
    expect(text).toContain("\\ud800");
    expect(text.isWellFormed()).toBe(true);
  });

  test("errorFrame copies code, content and ref and stamps the time", () => {
    const frame = errorFrame({ code: "too_long", content: "too big", ref: "r1" });
    expect(frame).toMatchObject({ type: "error", code: "too_long", content: "too big", ref: "r1" });
    expect(frame.timestamp).toMatch(ISO_MS);
  });

  test("errorFrame has no ref key when the error had none", () => {
    const frame = errorFrame({ code: "bad_json", content: "nope" });
    expect("ref" in frame).toBe(false);
    expect(JSON.parse(encode(frame))).toStrictEqual({ type: "error", code: "bad_json", content: "nope", timestamp: frame.timestamp });
  });

  test("parseServerFrame accepts known and unknown types", () => {
    expect(parseServerFrame('{"type":"pong","timestamp":"t"}')).toStrictEqual({ type: "pong", timestamp: "t" } as ServerFrame);
    const future = parseServerFrame('{"type":"reaction","content":"👍"}') as unknown as Record<string, unknown>;
    expect(future).toStrictEqual({ type: "reaction", content: "👍" });
  });

  test("parseServerFrame rejects non-JSON and JSON without a type string", () => {
    for (const text of ["", "hello", "{", '{"content":"x"}', '{"type":5}', '[{"type":"x"}]', "null", '"message"', "42"]) {
      expect(parseServerFrame(text)).toBeUndefined();
    }
  });
});

// ---------------------------------------------------------------- fuzz

const VALID_FRAMES = [
  '{"type":"message","content":"hello","room":"dev","ref":"r-1"}',
  '{"type":"message","content":"héllo wörld 😀"}',
  '{"type":"message","content":"x","room":"#lobby"}',
  '{"type":"ping"}',
  '  {"type":"ping","ref":"p"}',
  '{"ref":"abc","type":"message","content":"a\\nb","room":"r_1"}',
  '{"type":"join","room":"dev","since":3}',
  '{"type":"leave","room":"#dev","ref":"l1"}',
  '{"type":"nick","name":"alice"}',
  '{"type":"who"}',
  '{"type":"direct","to":"bob","content":"psst","ref":"d1"}',
  '{"type":"history","room":"dev","before":10,"limit":5}',
  "plain text",
];

const TYPES = ["message", "ping", "join", "leave", "nick", "who", "direct", "history", "Message", "", "__proto__", "constructor", "x".repeat(80)];

function randomValue(p: Picker, depth = 0): unknown {
  switch (p.int(depth > 2 ? 6 : 8)) {
    case 0: return hostileString(p);
    case 1: return p.pick(["", " ", "hi", "#dev", "dev", "Dev", "r".repeat(64), "r".repeat(65), "é".repeat(40)]);
    case 2: return p.int(2000) - 1000;
    case 3: return p.pick([null, true, false, 1.5, -0, 1e308]);
    case 4: return "x".repeat(p.int(100));
    case 5: return p.pick(TYPES);
    case 6: return Array.from({ length: p.int(4) }, () => randomValue(p, depth + 1));
    default: return randomObject(p, depth + 1);
  }
}

function randomObject(p: Picker, depth = 0): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  if (p.chance(0.9)) object.type = p.chance(0.7) ? p.pick(TYPES) : randomValue(p, depth);
  if (p.chance(0.8)) object.content = p.chance(0.6) ? hostileString(p) : randomValue(p, depth);
  if (p.chance(0.4)) object.room = randomValue(p, depth);
  if (p.chance(0.4)) object.ref = p.chance(0.5) ? "r".repeat(p.int(70)) : randomValue(p, depth);
  if (p.chance(0.2)) object.name = randomValue(p, depth);
  if (p.chance(0.2)) object.to = randomValue(p, depth);
  if (p.chance(0.2)) object.since = p.chance(0.5) ? p.int(100) : randomValue(p, depth);
  if (p.chance(0.1)) object[hostileString(p)] = randomValue(p, depth);
  return object;
}

function mutate(p: Picker, text: string): string {
  let out = text;
  for (let n = 1 + p.int(3); n > 0; n--) {
    const at = p.int(out.length + 1);
    switch (p.int(5)) {
      case 0: // flip one unit
        out = out.slice(0, at) + p.pick(HOSTILE_UNITS) + out.slice(at + 1);
        break;
      case 1: // truncate
        out = out.slice(0, at);
        break;
      case 2: // insert
        out = out.slice(0, at) + hostileString(p).slice(0, 1 + p.int(8)) + out.slice(at);
        break;
      case 3: // delete a range
        out = out.slice(0, at) + out.slice(at + 1 + p.int(6));
        break;
      default: // duplicate a slice
        out = out.slice(0, at) + out.slice(p.int(out.length + 1), at) + out.slice(at);
    }
  }
  return out;
}

// Every client frame type PROTOCOL.md defines; the parser may know a subset of them.
const CLIENT_FRAME_TYPES = ["message", "join", "leave", "nick", "who", "direct", "history", "ping"];

function checkResult(input: string, result: ParseResult, maxContentBytes: number): string {
  const where = `for input ${JSON.stringify(input.slice(0, 200))}`;
  if (result.ok) {
    const frame = result.frame as Record<string, unknown>;
    if (typeof frame.type !== "string" || !CLIENT_FRAME_TYPES.includes(frame.type)) {
      throw new Error(`unexpected type ${String(frame.type)} ${where}`);
    }
    if (frame.type === "ping" && Object.keys(frame).length !== 1) throw new Error(`ping with extra keys ${where}`);
    if (frame.type === "message" && typeof frame.content !== "string") throw new Error(`message without content ${where}`);
    if ("content" in frame) {
      if (typeof frame.content !== "string" || frame.content.trim() === "") throw new Error(`blank content ${where}`);
      if (exceedsBytes(frame.content, maxContentBytes)) throw new Error(`oversize content accepted ${where}`);
    }
    if ("room" in frame && (typeof frame.room !== "string" || !/^[a-z0-9_-]{1,64}$/.test(frame.room))) {
      throw new Error(`bad room accepted ${where}`);
    }
    if ("ref" in frame && (typeof frame.ref !== "string" || frame.ref.length < 1 || frame.ref.length > 64)) {
      throw new Error(`bad ref accepted ${where}`);
    }
    if ("since" in frame && !(Number.isSafeInteger(frame.since) && (frame.since as number) >= 0)) {
      throw new Error(`bad since accepted ${where}`);
    }
    return frame.type;
  }
  const error = result.error;
  if (!(ERROR_CODES as readonly string[]).includes(error.code)) throw new Error(`unknown code ${error.code} ${where}`);
  if (typeof error.content !== "string" || error.content === "") throw new Error(`empty error text ${where}`);
  if ("ref" in error && (typeof error.ref !== "string" || error.ref.length < 1 || error.ref.length > 64)) {
    throw new Error(`bad ref echoed ${where}`);
  }
  // The error must always be sendable.
  JSON.parse(encode(errorFrame(error)));
  return error.code;
}

const FUZZ_SEED = 0x5eed1234;
const FUZZ_RUNS = 120_000;

test(`parseClientFrame never throws and always answers a well-formed frame or a known error on ${FUZZ_RUNS} inputs (seed 0x${FUZZ_SEED.toString(16)})`, () => {
  const p = picker(mulberry32(FUZZ_SEED));
  const seen = new Map<string, number>();
  for (let i = 0; i < FUZZ_RUNS; i++) {
    let input: string;
    switch (i % 4) {
      case 0: input = hostileString(p); break;
      case 1: input = (p.chance(0.2) ? " \t\r\n".slice(p.int(4)) : "") + "{" + hostileString(p); break;
      case 2: input = mutate(p, p.pick(VALID_FRAMES)); break;
      default: input = p.chance(0.7) ? JSON.stringify(randomObject(p)) : mutate(p, JSON.stringify(randomObject(p)));
    }
    const maxContentBytes = p.chance(0.5) ? 4096 : 1 + p.int(64);
    let result: ParseResult;
    try {
      result = parseClientFrame(input, { maxContentBytes });
    } catch (error) {
      throw new Error(`parseClientFrame threw ${String(error)} for input ${JSON.stringify(input.slice(0, 200))}`);
    }
    const outcome = checkResult(input, result, maxContentBytes);
    seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
  }
  // The generator must reach every outcome, or the fuzz proves little.
  expect([...seen.keys()]).toEqual(expect.arrayContaining(["bad_frame", "bad_json", "bad_room", "message", "ping", "too_long"]));
}, 60_000);
