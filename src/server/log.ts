// One line per event on stderr, with a level; text for people, JSON for machines.
import type { LogLevel } from "../config.ts";

// JSON.stringify escapes C0 controls but leaves DEL, C1 and bidi controls raw; a log
// line shown in a terminal must not carry them (a close reason comes from the peer).
const RAW_AFTER_JSON = /[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** JSON text with every control character escaped: valid JSON, inert in a terminal. */
function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(RAW_AFTER_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  level: LogLevel;
  format: "text" | "json";
  /** Where lines go; stderr by default so stdout stays for the listening line. */
  write?: (line: string) => void;
  now?: () => Date;
}

/**
 * Collects lines and writes them once per event-loop turn: a connect storm logs
 * thousands of lines, and one write each was a measurable share of accepting.
 */
export function bufferedStderr(): (line: string) => void {
  let pending = "";
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending === "") return;
    const text = pending;
    pending = "";
    process.stderr.write(text);
  };
  process.on("exit", flush);
  return (line) => {
    pending += line;
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? bufferedStderr();
  const now = options.now ?? (() => new Date());
  const threshold = RANK[options.level];

  const emit = (level: LogLevel, event: string, fields: LogFields = {}) => {
    if (RANK[level] < threshold) return;
    const time = now().toISOString();
    if (options.format === "json") {
      // Fields never overwrite time, level or event.
      const record: Record<string, unknown> = { time, level, event };
      for (const [key, value] of Object.entries(fields)) if (!(key in record)) record[key] = value;
      write(`${safeJson(record)}\n`);
      return;
    }
    let line = `${time} ${level.toUpperCase().padEnd(5)} ${event}`;
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      // Quote values with spaces, quotes or controls so the line stays one line of
      // key=value pairs and nothing in it is interpreted by a terminal.
      const text = String(value);
      const plain = text !== "" && !/[\s"=\x00-\x1f]/.test(text) && !RAW_AFTER_JSON.test(text);
      RAW_AFTER_JSON.lastIndex = 0;
      line += ` ${key}=${plain ? text : safeJson(text)}`;
    }
    write(`${line}\n`);
  };

  return {
    debug: (event, fields) => emit("debug", event, fields),
    info: (event, fields) => emit("info", event, fields),
    warn: (event, fields) => emit("warn", event, fields),
    error: (event, fields) => emit("error", event, fields),
  };
}

/** A logger that drops everything, for tests and embedding. */
export const silentLogger: Logger = createLogger({ level: "error", format: "text", write: () => {} });
