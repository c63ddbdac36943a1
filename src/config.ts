// Every option of the server and the client, with its flag, env var, default and
// meaning, in one table each. parseArgs reads the flags, the table fills in env and
// defaults, and --help is printed from the same table, so they cannot disagree.
import { parseArgs } from "node:util";
import { nameProblem, normaliseRoom } from "./protocol.ts";

/** A bad flag or value: the entry point prints `message` on one line and exits 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

type Kind = "string" | "boolean";

interface OptionSpec<T> {
  kind: Kind;
  env?: string;
  default: T;
  /** Shown in --help after the default. */
  help: string;
  /** Placeholder in --help, e.g. "N" or "URL". */
  arg?: string;
  /** Converts the raw text; throws ConfigError with a sentence naming the problem. */
  parse?: (raw: string, flag: string) => T;
}

type Specs = Record<string, OptionSpec<unknown>>;
type ValuesOf<S extends Specs> = { [K in keyof S]: S[K]["default"] };

function option<T>(spec: OptionSpec<T>): OptionSpec<T> {
  return spec;
}

// ---------------------------------------------------------------- value parsers

function integer(min: number, max: number) {
  return (raw: string, flag: string): number => {
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new ConfigError(`${flag} must be a whole number from ${min} to ${max} (got '${raw}')`);
    }
    return value;
  };
}

function seconds(min: number, max: number) {
  return (raw: string, flag: string): number => {
    const value = Number(raw);
    if (!/^\d+(\.\d+)?$/.test(raw) || value < min || value > max) {
      throw new ConfigError(`${flag} must be a number of seconds from ${min} to ${max} (got '${raw}')`);
    }
    return value;
  };
}

function oneOf<T extends string>(...choices: T[]) {
  return (raw: string, flag: string): T => {
    if ((choices as string[]).includes(raw)) return raw as T;
    throw new ConfigError(`${flag} must be one of ${choices.join(", ")} (got '${raw}')`);
  };
}

function redisUrl(raw: string, flag: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${flag} must be a URL like redis://127.0.0.1:6379, not '${raw}'`);
  }
  if (!["redis:", "rediss:", "valkey:", "valkeys:"].includes(url.protocol)) throw new ConfigError(`${flag} must be a redis:// or rediss:// URL, not '${raw}'`);
  return raw;
}

function nonEmpty(raw: string, flag: string): string {
  if (raw.trim() === "") throw new ConfigError(`${flag} must not be empty`);
  return raw;
}

/** A display name the server would take: refused here rather than after connecting. */
function displayName(raw: string, flag: string): string {
  const problem = nameProblem(raw);
  if (problem !== undefined) throw new ConfigError(`${flag} '${raw}' is not a valid name: ${problem}`);
  return raw;
}

/** A room the server would take (a leading '#' is dropped). */
function roomName(raw: string, flag: string): string {
  const room = normaliseRoom(raw);
  if (room === undefined) throw new ConfigError(`${flag} '${raw}' is not a valid room: rooms are 1-64 characters of a-z, 0-9, '_' and '-'`);
  return room;
}

function webSocketUrl(raw: string, flag: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${flag} must be a ws:// or wss:// URL (got '${raw}')`);
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new ConfigError(`${flag} must be a ws:// or wss:// URL (got '${raw}')`);
  }
  return raw;
}

function originList(raw: string, flag: string): string[] {
  const origins = raw.split(",").map((o) => o.trim()).filter((o) => o !== "");
  for (const origin of origins) {
    if (origin === "*") continue;
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || parsed.origin !== origin) {
      throw new ConfigError(`${flag} must be a comma-separated list of origins like https://chat.example.com, or * (got '${origin}')`);
    }
  }
  if (origins.length === 0) throw new ConfigError(`${flag} must name at least one origin, or *`);
  return origins;
}

function secret(raw: string, flag: string): string {
  // HS256 with a short secret can be brute-forced offline from one token.
  if (raw.length < 32) throw new ConfigError(`${flag} must be at least 32 characters (got ${raw.length})`);
  return raw;
}

const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

// ---------------------------------------------------------------- the tables

export const serverOptions = {
  port: option({ kind: "string", env: "PORT", default: 8080, arg: "N", parse: integer(0, 65535),
    help: "port to listen on; 0 picks a free port" }),
  host: option<string | undefined>({ kind: "string", env: "HOST", default: undefined, arg: "HOST", parse: nonEmpty,
    help: "interface to listen on (default: all interfaces)" }),
  "max-content": option({ kind: "string", env: "MAX_CONTENT_BYTES", default: 4096, arg: "BYTES", parse: integer(1, 1 << 20),
    help: "largest message content; longer ones get a too_long error" }),
  "max-payload": option({ kind: "string", env: "MAX_PAYLOAD_BYTES", default: 64 * 1024, arg: "BYTES", parse: integer(1024, 16 << 20),
    help: "largest WebSocket frame; a bigger one closes the connection with 1009" }),
  "backpressure-limit": option({ kind: "string", env: "BACKPRESSURE_LIMIT", default: 1 << 20, arg: "BYTES", parse: integer(1024, 1 << 30),
    help: "bytes queued for one slow reader before it is disconnected" }),
  "max-rooms": option({ kind: "string", env: "MAX_ROOMS_PER_CONNECTION", default: 100, arg: "N", parse: integer(1, 10_000),
    help: "rooms one connection may be in at once" }),
  "announce-limit": option({ kind: "string", env: "ANNOUNCE_LIMIT", default: 100, arg: "N", parse: integer(0, 10_000_000),
    help: "rooms with more users than this get no join/leave notices (who still lists everyone)" }),
  db: option({ kind: "string", env: "CHAT_DB", default: "./data/chat.db", arg: "PATH", parse: nonEmpty,
    help: "SQLite file for history and sessions; :memory: keeps nothing across restarts" }),
  redis: option<string | undefined>({ kind: "string", env: "REDIS_URL", default: undefined, arg: "URL", parse: redisUrl,
    help: "run as one node of a cluster sharing this Redis (redis:// or rediss://); history, ids, names and presence live there" }),
  "history-limit": option({ kind: "string", env: "HISTORY_LIMIT", default: 10_000, arg: "N", parse: integer(1, 10_000_000),
    help: "messages kept per room; older ones are pruned (ids are never reused)" }),
  grace: option({ kind: "string", env: "SESSION_GRACE", default: 30, arg: "SECONDS", parse: seconds(0, 86_400),
    help: "how long a dropped user stays present and can resume its session" }),
  heartbeat: option({ kind: "string", env: "HEARTBEAT_INTERVAL", default: 30, arg: "SECONDS", parse: seconds(0.1, 3600),
    help: "ping interval; a peer that answers no ping for two intervals is closed" }),
  rate: option({ kind: "string", env: "RATE_LIMIT", default: 20, arg: "N", parse: integer(0, 1_000_000),
    help: "frames per second one connection may send, sustained; 0 turns the limit off" }),
  burst: option({ kind: "string", env: "RATE_BURST", default: 40, arg: "N", parse: integer(1, 1_000_000),
    help: "frames one connection may send at once" }),
  "max-conns-per-ip": option({ kind: "string", env: "MAX_CONNS_PER_IP", default: 64, arg: "N", parse: integer(0, 10_000_000),
    help: "connections from one remote address; more get HTTP 429; 0 for no cap" }),
  "max-connections": option({ kind: "string", env: "MAX_CONNECTIONS", default: 0, arg: "N", parse: integer(0, 10_000_000),
    help: "connections in total; more get HTTP 429; 0 for no cap" }),
  origins: option<string[]>({ kind: "string", env: "ALLOWED_ORIGINS", default: [], arg: "LIST", parse: originList,
    help: "comma-separated origins browsers may connect from, * for any (default: same host only)" }),
  "auth-secret": option<string | undefined>({ kind: "string", env: "CHAT_AUTH_SECRET", default: undefined, arg: "SECRET", parse: secret,
    help: "require an HS256 JWT signed with this secret on every upgrade" }),
  "tls-cert": option<string | undefined>({ kind: "string", env: "TLS_CERT", default: undefined, arg: "FILE", parse: nonEmpty,
    help: "PEM certificate: serve wss:// (needs --tls-key)" }),
  "tls-key": option<string | undefined>({ kind: "string", env: "TLS_KEY", default: undefined, arg: "FILE", parse: nonEmpty,
    help: "PEM private key for --tls-cert" }),
  compress: option({ kind: "boolean", env: "COMPRESS", default: false,
    help: "permessage-deflate (costs CPU per message; the payload limit applies to the inflated size)" }),
  "metrics-token": option<string | undefined>({ kind: "string", env: "METRICS_TOKEN", default: undefined, arg: "TOKEN", parse: nonEmpty,
    help: "GET /metrics needs 'Authorization: Bearer TOKEN'" }),
  "shutdown-linger": option({ kind: "string", env: "SHUTDOWN_LINGER", default: 0.3, arg: "SECONDS", parse: seconds(0, 1.5),
    help: "after closing every socket on SIGINT/SIGTERM, answer new upgrades with 503 this long" }),
  "log-level": option<LogLevel>({ kind: "string", env: "LOG_LEVEL", default: "info", arg: "LEVEL", parse: oneOf(...LOG_LEVELS),
    help: "debug, info, warn or error" }),
  "log-format": option<"text" | "json">({ kind: "string", env: "LOG_FORMAT", default: "text", arg: "FORMAT", parse: oneOf("text", "json"),
    help: "text for people, json for machines (one object per line)" }),
  help: option({ kind: "boolean", default: false, help: "show this help and exit" }),
} satisfies Specs;

export const clientOptions = {
  url: option({ kind: "string", env: "CHAT_URL", default: "ws://localhost:8080", arg: "URL", parse: webSocketUrl,
    help: "server to connect to (also accepted as the first argument)" }),
  name: option<string | undefined>({ kind: "string", env: "CHAT_NAME", default: undefined, arg: "NAME", parse: displayName,
    help: "display name to ask for (default: your User-XXXXX id)" }),
  room: option<string | undefined>({ kind: "string", env: "CHAT_ROOM", default: undefined, arg: "ROOM", parse: roomName,
    help: "room to join first (default: lobby)" }),
  json: option({ kind: "boolean", default: false, help: "print each server frame as one JSON line" }),
  token: option<string | undefined>({ kind: "string", env: "CHAT_TOKEN", default: undefined, arg: "TOKEN", parse: nonEmpty,
    help: "auth token for a server that requires one (sent as Authorization: Bearer)" }),
  insecure: option({ kind: "boolean", default: false, help: "accept a wss:// server's self-signed or otherwise untrusted certificate" }),
  retry: option({ kind: "boolean", default: false, help: "keep trying when the first connection fails, instead of exiting 1" }),
  "no-reconnect": option({ kind: "boolean", default: false, help: "exit 1 when the connection drops, instead of reconnecting" }),
  "no-color": option({ kind: "boolean", env: "NO_COLOR", default: false, help: "plain text without colours" }),
  help: option({ kind: "boolean", default: false, help: "show this help and exit" }),
} satisfies Specs;

export type ServerOptions = ValuesOf<typeof serverOptions>;
export type ClientOptions = ValuesOf<typeof clientOptions>;

// ---------------------------------------------------------------- reading them

export interface Parsed<V> {
  values: V;
  positionals: string[];
  /** The options given as flags on the command line (not from env or defaults). */
  flagsGiven: Set<string>;
}

/**
 * Flags beat env vars, env vars beat defaults. Throws ConfigError on an unknown flag,
 * a missing value or a bad value, always naming the flag.
 */
export function readOptions<S extends Specs>(
  specs: S,
  argv: string[],
  env: Record<string, string | undefined>,
  allowPositionals = false,
): Parsed<ValuesOf<S>> {
  const parseArgsOptions: Record<string, { type: Kind }> = {};
  for (const [flag, spec] of Object.entries(specs)) parseArgsOptions[flag] = { type: spec.kind };

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options: parseArgsOptions, strict: true, allowPositionals });
  } catch (error) {
    throw new ConfigError(describeParseArgsError(error));
  }

  const values: Record<string, unknown> = {};
  for (const [flag, spec] of Object.entries(specs)) {
    const fromFlag = parsed.values[flag];
    const envText = spec.env === undefined ? undefined : env[spec.env];
    if (spec.kind === "boolean") {
      values[flag] = fromFlag === true || (envText !== undefined && envText !== "" && envSwitch(spec.env!, envText));
    } else if (typeof fromFlag === "string") {
      values[flag] = spec.parse ? spec.parse(fromFlag, `--${flag}`) : fromFlag;
    } else if (envText !== undefined && envText !== "") {
      values[flag] = spec.parse ? spec.parse(envText, `${spec.env} (--${flag})`) : envText;
    } else {
      values[flag] = spec.default;
    }
  }
  const flagsGiven = new Set(Object.keys(parsed.values).filter((flag) => parsed.values[flag] !== undefined));
  return { values: values as ValuesOf<S>, positionals: parsed.positionals, flagsGiven };
}

/**
 * A boolean option's environment variable. NO_COLOR keeps its own convention (any
 * non-empty value turns colour off, see no-color.org); the others read as on or off
 * in the usual words, and anything else is an error rather than a guess
 * (COMPRESS=false used to turn compression on).
 */
function envSwitch(name: string, text: string): boolean {
  if (name === "NO_COLOR") return true;
  const word = text.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(word)) return true;
  if (["0", "false", "no", "off"].includes(word)) return false;
  throw new ConfigError(`${name} must be one of 1, true, yes, on, 0, false, no, off, not '${text}'`);
}

function describeParseArgsError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const unknown = /Unknown option '([^']+)'/.exec(text);
  if (unknown) return `unknown option ${unknown[1]} (see --help)`;
  const missing = /Option '(?:-\w, )?(--[\w-]+)[^']*' argument missing/.exec(text);
  if (missing) return `${missing[1]} needs a value`;
  const ambiguous = /Option '(?:-\w, )?(--[\w-]+)[^']*' argument is ambiguous/.exec(text);
  if (ambiguous) return `${ambiguous[1]} needs a value; for one that starts with '-', write ${ambiguous[1]}=VALUE`;
  const unexpected = /Unexpected argument '([^']+)'/.exec(text);
  if (unexpected) return `unexpected argument '${unexpected[1]}' (see --help)`;
  // parseArgs messages are one sentence followed by advice (after ". " or ".\n"); keep the sentence.
  return (text.split(/\.\s/)[0] ?? text).replace(/\s+/g, " ");
}

export function parseServerArgs(argv: string[], env: Record<string, string | undefined>): ServerOptions {
  const values = readOptions(serverOptions, argv, env).values;
  if ((values["tls-cert"] === undefined) !== (values["tls-key"] === undefined)) {
    throw new ConfigError("--tls-cert and --tls-key go together: give both or neither");
  }
  return values;
}

export function parseClientArgs(argv: string[], env: Record<string, string | undefined>): ClientOptions {
  // A URL argument beats CHAT_URL as --url does, so a bad CHAT_URL must not stop it.
  const hasPositional = readOptions(clientOptions, argv, {}, true).positionals.length > 0;
  const { values, positionals, flagsGiven } = readOptions(clientOptions, argv, hasPositional ? { ...env, CHAT_URL: undefined } : env, true);
  if (positionals.length > 1) {
    throw new ConfigError(`expected at most one URL argument (got ${positionals.length}: ${positionals.join(" ")})`);
  }
  const positional = positionals[0];
  if (positional !== undefined) {
    if (flagsGiven.has("url")) throw new ConfigError("give the URL either as --url or as an argument, not both");
    values.url = webSocketUrl(positional, "the URL argument");
  }
  return values;
}

/** The --help text, generated from a table so every option and default is listed. */
export function helpText(usage: string, specs: Specs): string {
  const rows = Object.entries(specs).map(([flag, spec]) => {
    const left = `  --${flag}${spec.arg ? ` ${spec.arg}` : ""}`;
    const shownDefault =
      spec.kind === "boolean" || spec.default === undefined ? "" : ` (default: ${String(spec.default)})`;
    const env = spec.env ? ` [env ${spec.env}]` : "";
    return { left, right: `${spec.help}${shownDefault}${env}` };
  });
  const width = Math.max(...rows.map((r) => r.left.length)) + 2;
  return [usage, "", "Options:", ...rows.map((r) => r.left.padEnd(width) + r.right)].join("\n");
}
