// One line per event on stderr, with a level; text for people, JSON for machines.
import type { LogLevel } from "../config.ts";

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

export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const now = options.now ?? (() => new Date());
  const threshold = RANK[options.level];

  const emit = (level: LogLevel, event: string, fields: LogFields = {}) => {
    if (RANK[level] < threshold) return;
    const time = now().toISOString();
    if (options.format === "json") {
      write(`${JSON.stringify({ time, level, event, ...fields })}\n`);
      return;
    }
    let line = `${time} ${level.toUpperCase().padEnd(5)} ${event}`;
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      // Quote values with spaces or quotes so the line stays parseable as key=value pairs.
      const text = String(value);
      line += ` ${key}=${/[\s"=]/.test(text) || text === "" ? JSON.stringify(text) : text}`;
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
