import { describe, expect, test } from "bun:test";
import type { LogLevel } from "../../../src/config.ts";
import { createLogger, silentLogger, type LoggerOptions } from "../../../src/server/log.ts";

const NOW = new Date(Date.UTC(2025, 6, 29, 12, 34, 56, 789));
const TIME = "2025-07-29T12:34:56.789Z";

function capture(level: LogLevel, format: LoggerOptions["format"]) {
  const lines: string[] = [];
  const log = createLogger({ level, format, write: (line) => lines.push(line), now: () => NOW });
  return { log, lines };
}

const LEVELS: LogLevel[] = ["debug", "info", "warn", "error"];

describe("level filtering", () => {
  for (const [rank, level] of LEVELS.entries()) {
    test(`at level ${level}, only ${LEVELS.slice(rank).join(", ")} are written`, () => {
      const { log, lines } = capture(level, "json");
      for (const l of LEVELS) log[l](`${l}-event`);
      expect(lines.map((line) => JSON.parse(line).level)).toEqual(LEVELS.slice(rank));
    });
  }

  test("a filtered call does not read the clock", () => {
    let reads = 0;
    const log = createLogger({ level: "error", format: "text", write: () => {}, now: () => (reads++, NOW) });
    log.debug("x");
    log.info("x");
    log.warn("x");
    expect(reads).toBe(0);
    log.error("x");
    expect(reads).toBe(1);
  });
});

describe("text format", () => {
  test("a line reads 'TIME LEVEL event key=value', one line per call", () => {
    const { log, lines } = capture("debug", "text");
    log.info("connect", { conn: 7, userId: "User-ab123", room: "lobby" });
    expect(lines).toEqual([`${TIME} INFO  connect conn=7 userId=User-ab123 room=lobby\n`]);
  });

  test("levels are upper case and padded to one width", () => {
    const { log, lines } = capture("debug", "text");
    for (const l of LEVELS) log[l]("e");
    expect(lines).toEqual([`${TIME} DEBUG e\n`, `${TIME} INFO  e\n`, `${TIME} WARN  e\n`, `${TIME} ERROR e\n`]);
  });

  test("an event without fields is just time, level and event", () => {
    const { log, lines } = capture("info", "text");
    log.warn("shutdown");
    expect(lines).toEqual([`${TIME} WARN  shutdown\n`]);
  });

  test("numbers and booleans are written bare", () => {
    const { log, lines } = capture("info", "text");
    log.info("e", { n: 1.5, yes: true, no: false, zero: 0 });
    expect(lines[0]).toBe(`${TIME} INFO  e n=1.5 yes=true no=false zero=0\n`);
  });

  test("values with spaces, quotes or '=' are quoted", () => {
    const { log, lines } = capture("info", "text");
    log.info("disconnect", { reason: "going away", quote: 'say "hi"', eq: "a=b", tab: "a\tb" });
    expect(lines[0]).toBe(`${TIME} INFO  disconnect reason="going away" quote="say \\"hi\\"" eq="a=b" tab="a\\tb"\n`);
  });

  test("an empty value is quoted so the pair stays visible", () => {
    const { log, lines } = capture("info", "text");
    log.info("e", { reason: "" });
    expect(lines[0]).toBe(`${TIME} INFO  e reason=""\n`);
  });

  test("a value with a newline stays on one line", () => {
    const { log, lines } = capture("info", "text");
    log.info("e", { message: "line 1\nline 2\r\nline 3" });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.slice(0, -1)).not.toContain("\n");
    expect(lines[0]).toBe(`${TIME} INFO  e message="line 1\\nline 2\\r\\nline 3"\n`);
  });

  test("undefined fields are left out", () => {
    const { log, lines } = capture("info", "text");
    log.info("disconnect", { conn: 1, reason: undefined, code: 1000 });
    expect(lines[0]).toBe(`${TIME} INFO  disconnect conn=1 code=1000\n`);
  });

  test("the time comes from the injected clock", () => {
    let t = 0;
    const lines: string[] = [];
    const log = createLogger({ level: "info", format: "text", write: (line) => lines.push(line), now: () => new Date(t) });
    log.info("a");
    t = 1000;
    log.info("b");
    expect(lines).toEqual(["1970-01-01T00:00:00.000Z INFO  a\n", "1970-01-01T00:00:01.000Z INFO  b\n"]);
  });
});

describe("json format", () => {
  test("a line is one JSON object with time, level, event and the fields", () => {
    const { log, lines } = capture("info", "json");
    log.warn("disconnect", { conn: 3, userId: "User-ab123", code: 1008, cause: "flood", clean: false });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.endsWith("\n")).toBe(true);
    expect(lines[0]?.slice(0, -1)).not.toContain("\n");
    expect(JSON.parse(lines[0] ?? "")).toStrictEqual({
      time: TIME, level: "warn", event: "disconnect", conn: 3, userId: "User-ab123", code: 1008, cause: "flood", clean: false,
    });
  });

  test("an event without fields has just time, level and event", () => {
    const { log, lines } = capture("debug", "json");
    log.debug("tick");
    expect(JSON.parse(lines[0] ?? "")).toStrictEqual({ time: TIME, level: "debug", event: "tick" });
  });

  test("undefined fields are left out and awkward strings survive", () => {
    const { log, lines } = capture("info", "json");
    log.error("shutdown_failed", { message: 'a "b"\nc = d', gone: undefined });
    expect(JSON.parse(lines[0] ?? "")).toStrictEqual({ time: TIME, level: "error", event: "shutdown_failed", message: 'a "b"\nc = d' });
  });
});

describe("silentLogger", () => {
  test("accepts every level without throwing", () => {
    for (const l of LEVELS) expect(() => silentLogger[l]("e", { a: 1 })).not.toThrow();
  });
});
