import { describe, expect, test } from "bun:test";
import { createRenderer, localTime, nameHash } from "../../../src/client/render.ts";
import type { ServerFrame } from "../../../src/protocol.ts";

const TIME = "2025-07-29T12:34:56.789Z";
const SELF = "User-me000";
const clock = () => "12:34:56";
const plain = createRenderer({ color: false, selfId: SELF, formatTime: clock });

// Every character a terminal would act on, newline excepted (message lines may span rows).
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
// The colour codes picocolors writes: ESC [ n (; n)* m.
const SGR = /\x1b\[\d+(?:;\d+)*m/g;

function message(fields: Partial<Record<"userId" | "name" | "content" | "room", string>> = {}): ServerFrame {
  return {
    type: "message", id: 1, room: "lobby", userId: "User-al1ce", name: "alice", content: "hello",
    timestamp: TIME, ...fields,
  };
}

function frame(value: Record<string, unknown>): ServerFrame {
  return { timestamp: TIME, ...value } as unknown as ServerFrame;
}

describe("createRenderer without colour: messages", () => {
  test("a message reads 'HH:MM:SS name: content'", () => {
    expect(plain(message())).toBe("12:34:56 alice: hello");
  });

  test("the userId stands in for a missing name", () => {
    expect(plain(frame({ type: "message", id: 1, room: "lobby", userId: "User-x1y2z", content: "hi" }))).toBe(
      "12:34:56 User-x1y2z: hi",
    );
  });

  test("one's own messages are marked (you)", () => {
    expect(plain(message({ userId: SELF, name: "me" }))).toBe("12:34:56 me (you): hello");
  });

  test("someone else's message with one's own name is not marked (you)", () => {
    expect(plain(message({ userId: "User-other", name: "me" }))).toBe("12:34:56 me: hello");
  });

  test("without a selfId nothing is marked (you)", () => {
    const render = createRenderer({ color: false, selfId: undefined, formatTime: clock });
    expect(render(message({ userId: SELF, name: "me" }))).toBe("12:34:56 me: hello");
  });

  test("continuation lines of a multi-line message line up under the first", () => {
    expect(plain(message({ content: "one\ntwo\nthree" }))).toBe(
      ["12:34:56 alice: one", "                two", "                three"].join("\n"),
    );
  });

  test("continuation lines of one's own message line up after the (you) mark", () => {
    const text = plain(message({ userId: SELF, name: "me", content: "one\ntwo" })) ?? "";
    expect(text).toBe("12:34:56 me (you): one\n                   two");
    const [first, second] = text.split("\n");
    expect(second?.indexOf("two")).toBe(first?.indexOf("one"));
  });

  test("the time comes from the frame's timestamp", () => {
    const seen: string[] = [];
    const render = createRenderer({ color: false, selfId: undefined, formatTime: (iso) => (seen.push(iso), "T") });
    render(message());
    render(frame({ type: "system", event: "notice", content: "x" }));
    expect(seen).toEqual([TIME, TIME]);
  });

  test("a frame without a timestamp string is given an empty one to format", () => {
    const seen: string[] = [];
    const render = createRenderer({ color: false, selfId: undefined, formatTime: (iso) => (seen.push(iso), "--:--:--") });
    expect(render(frame({ type: "system", event: "notice", content: "x", timestamp: 5 }))).toBe("--:--:-- -- x");
    expect(seen).toEqual([""]);
  });
});

describe("createRenderer without colour: other frames", () => {
  test("a system frame reads '-- content'", () => {
    expect(plain(frame({ type: "system", event: "join", room: "lobby", userId: "u", name: "bob", content: "bob joined #lobby" }))).toBe(
      "12:34:56 -- bob joined #lobby",
    );
  });

  test("a system frame stays on one line", () => {
    expect(plain(frame({ type: "system", event: "notice", content: "a\nb" }))).toBe("12:34:56 -- a\\x0ab");
  });

  test("an error frame reads 'error [code]: content'", () => {
    expect(plain(frame({ type: "error", code: "too_long", content: "message content is over 4096 bytes", ref: "r1" }))).toBe(
      "12:34:56 error [too_long]: message content is over 4096 bytes",
    );
  });

  test("acks and pongs are not shown", () => {
    expect(plain(frame({ type: "ack", ref: "r1", id: 3, room: "lobby" }))).toBeUndefined();
    expect(plain(frame({ type: "pong" }))).toBeUndefined();
  });

  test("a frame of an unknown type shows its content", () => {
    expect(plain(frame({ type: "reaction", content: "bob liked your message" }))).toBe("12:34:56 bob liked your message");
  });

  test("a frame of an unknown type without content is not shown", () => {
    expect(plain(frame({ type: "reaction", emoji: "👍" }))).toBeUndefined();
    expect(plain(frame({ type: "reaction", content: 42 }))).toBeUndefined();
  });
});

describe("createRenderer: hostile frames", () => {
  const hostile = [
    message({ name: "\x1b[2J\x1b[Hroot", content: "\x1b]0;pwned\x07\x1b]52;c;cm0gLXJm\x07" }),
    message({ name: "evil\u202e", content: "safe\rEVIL\nabc\b\b\bxyz\x9b2J\u2066" }),
    message({ userId: "User-\x1b[31m", name: undefined as unknown as string, content: "x\x85y\x00" }),
    frame({ type: "system", event: "notice", content: "\x1b[2Jbye\x07\u2028" }),
    frame({ type: "error", code: "\x1b[5mbad_json", content: "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\" }),
    frame({ type: "reaction", content: "\x1bP+q\x1b\\\u202d\r\n" }),
  ];

  test("no control character reaches the output without colour", () => {
    for (const f of hostile) {
      const text = plain(f);
      expect(text).toBeString();
      expect(text).not.toMatch(CONTROL);
    }
  });

  test("the attacker's ESC is shown as \\x1b", () => {
    expect(plain(message({ name: "\x1b[2Jx", content: "\x1b]0;pwned\x07" }))).toBe("12:34:56 \\x1b[2Jx: \\x1b]0;pwned\\x07");
  });

  test("a carriage return cannot overwrite the name of the sender", () => {
    expect(plain(message({ content: "safe\rbob: EVIL" }))).toBe("12:34:56 alice: safe\\x0dbob: EVIL");
  });

  test("with colour, only the renderer's own colour codes reach the output", () => {
    const colored = createRenderer({ color: true, selfId: SELF, formatTime: clock });
    for (const f of hostile) {
      const text = colored(f) ?? "";
      expect(text).toMatch(SGR);
      const stripped = text.replace(SGR, "");
      expect(stripped).not.toMatch(CONTROL);
      // Apart from the colour codes it is the same text as without colour.
      expect(stripped).toBe(plain(f) ?? "");
    }
  });
});

/** The colour code written just before a name. */
function colourBefore(text: string, name: string): string {
  const before = text.slice(0, text.indexOf(`${name}\x1b`));
  return before.slice(before.lastIndexOf("\x1b["));
}

describe("createRenderer with colour", () => {
  const colored = createRenderer({ color: true, selfId: SELF, formatTime: clock });

  test("a message is coloured and reads the same once the colour codes are removed", () => {
    const text = colored(message()) ?? "";
    expect(text).toContain("\x1b[");
    expect(text.replace(SGR, "")).toBe("12:34:56 alice: hello");
  });

  test("continuation lines line up when colour codes are ignored", () => {
    const text = colored(message({ userId: SELF, name: "me", content: "one\ntwo" })) ?? "";
    expect(text.replace(SGR, "")).toBe("12:34:56 me (you): one\n                   two");
  });

  test("an error is red", () => {
    expect(colored(frame({ type: "error", code: "bad_json", content: "x" }))).toContain("\x1b[31m");
  });

  test("the same name gets the same colour in every renderer", () => {
    const other = createRenderer({ color: true, selfId: undefined, formatTime: clock });
    for (const name of ["alice", "bob", "carol", "dave", "Zoë"]) {
      const first = colored(message({ name, content: "a" })) ?? "";
      const again = colored(message({ name, content: "b" })) ?? "";
      const elsewhere = other(message({ name, content: "c" })) ?? "";
      expect(colourBefore(first, name)).toMatch(/^\x1b\[\d+m$/);
      expect(colourBefore(again, name)).toBe(colourBefore(first, name));
      expect(colourBefore(elsewhere, name)).toBe(colourBefore(first, name));
    }
  });

  test("different names can get different colours", () => {
    const codes = new Set<string>();
    for (const name of ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]) {
      codes.add(colourBefore(colored(message({ name })) ?? "", name));
    }
    expect(codes.size).toBeGreaterThan(1);
  });
});

describe("nameHash", () => {
  test("is 32-bit FNV-1a", () => {
    expect(nameHash("")).toBe(0x811c9dc5);
    expect(nameHash("a")).toBe(0xe40c292c);
    expect(nameHash("foobar")).toBe(0xbf9cf968);
  });

  test("is stable and unsigned", () => {
    for (const name of ["alice", "User-ab123", "x".repeat(1000), "名前", "😀"]) {
      const hash = nameHash(name);
      expect(nameHash(name)).toBe(hash);
      expect(Number.isInteger(hash)).toBe(true);
      expect(hash).toBeGreaterThanOrEqual(0);
      expect(hash).toBeLessThan(2 ** 32);
    }
  });

  test("tells names apart by case", () => {
    expect(nameHash("alice")).not.toBe(nameHash("Alice"));
  });
});

describe("localTime", () => {
  test("formats a timestamp as local HH:MM:SS", () => {
    expect(localTime(new Date(2025, 0, 2, 3, 4, 5, 678).toISOString())).toBe("03:04:05");
    expect(localTime(new Date(2025, 0, 2, 23, 59, 59, 999).toISOString())).toBe("23:59:59");
    expect(localTime(new Date(2025, 0, 2, 0, 0, 0, 0).toISOString())).toBe("00:00:00");
  });

  test("shows dashes for a timestamp it cannot read", () => {
    for (const bad of ["", "yesterday", "2025-13-45T99:99:99Z", "NaN"]) expect(localTime(bad)).toBe("--:--:--");
  });
});

describe("rooms, direct messages, presence and actions", () => {
  const T = "2026-01-01T00:00:00.000Z";
  const make = (extra: Partial<Parameters<typeof createRenderer>[0]> = {}) =>
    createRenderer({ color: false, selfId: "User-me000", formatTime: () => "12:34:56", ...extra });

  test("a message shows its room when asked to", () => {
    const render = make({ showRoom: true });
    expect(render({ type: "message", id: 1, room: "dev", userId: "User-x", name: "ann", content: "hi", timestamp: T })).toBe(
      "12:34:56 #dev ann: hi",
    );
  });

  test("continuation lines line up under the first line, room label included", () => {
    const render = make({ showRoom: true });
    const text = render({ type: "message", id: 1, room: "dev", userId: "User-x", name: "ann", content: "x\ny", timestamp: T })!;
    const [first, second] = text.split("\n");
    expect(second!.indexOf("y")).toBe(first!.indexOf("x"));
    expect(second!.trimStart()).toBe("y");
  });

  test("an action is shown as '* name action'", () => {
    expect(make()({ type: "message", id: 1, room: "dev", userId: "User-x", name: "ann", content: "/me waves", timestamp: T })).toBe(
      "12:34:56 * ann waves",
    );
  });

  test("a direct message names both ends, 'you' for ourselves", () => {
    const render = make();
    const dm = { type: "direct" as const, content: "psst", timestamp: T };
    expect(render({ ...dm, from: "User-x", fromName: "ann", to: "User-me000", toName: "me" })).toBe("12:34:56 [dm] ann → you: psst");
    expect(render({ ...dm, from: "User-me000", fromName: "me", to: "User-x", toName: "ann" })).toBe("12:34:56 [dm] you → ann: psst");
  });

  test("presence lists the names with a count", () => {
    const render = make();
    expect(render({ type: "presence", room: "dev", users: [{ userId: "a", name: "ann" }, { userId: "b", name: "ben" }], timestamp: T })).toBe(
      "12:34:56 -- #dev (2 users): ann, ben",
    );
    expect(render({ type: "presence", room: "dev", users: [], timestamp: T })).toBe("12:34:56 -- #dev (0 users): nobody");
  });

  test("hostile names in direct messages and presence are escaped", () => {
    const render = make();
    const out = render({ type: "presence", room: "dev", users: [{ userId: "a", name: "\x1b[2Jevil" }], timestamp: T })!;
    expect(out).toContain("\\x1b[2Jevil");
    expect(out).not.toContain("\x1b");
  });
});
