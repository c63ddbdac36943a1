import { describe, expect, test } from "bun:test";
import { COMMANDS, complete, helpLines, isCommand, parseInput } from "../../../src/client/commands.ts";

const sends = (line: string, current = "lobby") => {
  const command = parseInput(line, current);
  if (command.kind !== "send") throw new Error(`expected a frame for ${line}, got ${JSON.stringify(command)}`);
  return command.frame;
};
const usageOf = (line: string, ...current: [string | undefined] | []) => {
  const command = parseInput(line, current.length === 0 ? "lobby" : current[0]);
  if (command.kind !== "usage") throw new Error(`expected a usage message for ${line}, got ${JSON.stringify(command)}`);
  return command.text;
};

describe("messages", () => {
  test("a line without a slash is a message with its text as typed", () => {
    expect(sends("  hello  world ")).toEqual({ type: "message", content: "  hello  world " });
  });

  test("//text sends /text", () => {
    expect(sends("//shrug")).toEqual({ type: "message", content: "/shrug" });
    expect(isCommand("//shrug")).toBe(false);
    expect(isCommand("/shrug")).toBe(true);
  });
});

describe("commands that send a frame", () => {
  test.each([
    ["/join #dev", { type: "join", room: "dev" }],
    ["/join dev", { type: "join", room: "dev" }],
    ["/JOIN #dev", { type: "join", room: "dev" }],
    ["/leave", { type: "leave", room: "lobby" }],
    ["/leave #dev", { type: "leave", room: "dev" }],
    ["/who", { type: "who" }],
    ["/who #dev", { type: "who", room: "dev" }],
    ["/nick alice", { type: "nick", name: "alice" }],
    ["/msg bob hi there", { type: "direct", to: "bob", content: "hi there" }],
    ["/msg User-ab12c  spaced   text", { type: "direct", to: "User-ab12c", content: "spaced   text" }],
    ["/me waves", { type: "message", content: "/me waves" }],
  ])("%s", (line, frame) => {
    expect(sends(line)).toEqual(frame as never);
  });
});

describe("local commands", () => {
  test.each([["/rooms", "rooms"], ["/help", "help"], ["/quit", "quit"]])("%s is handled by the client", (line, kind) => {
    expect(parseInput(line, "lobby")).toEqual({ kind } as never);
  });

  test("/help lists every command", () => {
    const text = helpLines().join("\n");
    for (const name of ["join", "leave", "nick", "who", "msg", "rooms", "me", "help", "quit"]) expect(text).toContain(`/${name}`);
  });
});

describe("wrong input is a usage message and sends nothing", () => {
  test.each([
    ["/frobnicate", "unknown command /frobnicate; /help lists the commands"],
    ["/join", "usage: /join #room"],
    ["/join a b", "usage: /join #room"],
    ["/leave a b", "usage: /leave [#room]"],
    ["/who a b", "usage: /who [#room]"],
    ["/nick", "usage: /nick name"],
    ["/msg bob", "usage: /msg name text"],
    ["/msg bob    ", "usage: /msg name text"],
    ["/me", "usage: /me action"],
    ["/me    ", "usage: /me action"],
    ["/rooms extra", "usage: /rooms"],
    ["/quit now", "usage: /quit"],
  ])("%s", (line, text) => {
    expect(usageOf(line)).toBe(text);
  });

  test("a bad room name is explained", () => {
    expect(usageOf("/join Dev")).toContain("'Dev' is not a room name");
    expect(usageOf("/who #a.b")).toContain("is not a room name");
  });

  test("a bad name is explained with the server's rule", () => {
    expect(usageOf("/nick User-x")).toContain("reserved");
    expect(usageOf("/nick a;b")).toContain("1-32 characters");
  });

  test("/leave with no room and no current room says so", () => {
    expect(usageOf("/leave", undefined)).toBe("you are not in any room");
  });
});

describe("tab completion", () => {
  test("completes command names after a slash", () => {
    expect(complete("/j", [])).toEqual([["/join "], "/j"]);
    expect(complete("/", []).at(0)).toHaveLength(Object.keys(COMMANDS).length);
  });

  test("completes the last word against known names, ignoring case", () => {
    expect(complete("/msg al", ["alice", "Alan", "bob"])).toEqual([["Alan", "alice"], "al"]);
    expect(complete("hi B", ["alice", "bob"])).toEqual([["bob"], "B"]);
  });

  test("offers nothing after a space", () => {
    expect(complete("hello ", ["alice"])).toEqual([[], ""]);
  });
});
