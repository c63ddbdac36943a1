// Every flag of `bun run bench`, with its default and meaning, in one table that
// also prints --help, so the two cannot disagree.
import { parseArgs } from "node:util";

/** A bad flag or value; the entry point prints the message on one line and exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export const SCENARIO_NAMES = ["throughput", "latency", "idle", "large-room", "many-rooms", "flood", "cluster"] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

/** The built-in servers, in the order their ratio columns appear; ours-memory and envelope are opt-in. */
export const SERVER_NAMES = ["ours", "ceiling", "original", "ours-memory", "envelope"] as const;
export type ServerName = (typeof SERVER_NAMES)[number];
export const DEFAULT_SERVERS: ServerName[] = ["ours", "ceiling", "original"];

/** A server added with --compare NAME=CMD; CMD is split into words when the run starts. */
export interface CompareServer {
  name: string;
  command: string;
}

const COMPARE_NAME = /^[a-z][a-z0-9-]*$/;

interface Spec<T> {
  kind: "string" | "boolean";
  /** The flag may be given several times; parse gets each value and its results are concatenated. */
  multiple?: boolean;
  default: T;
  arg?: string;
  help: string;
  parse?: (raw: string, flag: string) => T;
}

function spec<T>(s: Spec<T>): Spec<T> {
  return s;
}

function wholeNumber(min: number, max: number) {
  return (raw: string, flag: string): number => {
    const value = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || value < min || value > max) {
      throw new UsageError(`${flag} must be a whole number from ${min} to ${max} (got '${raw}')`);
    }
    return value;
  };
}

function positiveNumber(max: number) {
  return (raw: string, flag: string): number => {
    const value = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(value) || value <= 0 || value > max) {
      throw new UsageError(`${flag} must be a number above 0 and at most ${max} (got '${raw}')`);
    }
    return value;
  };
}

function listOf<T extends string>(choices: readonly T[], all?: string) {
  return (raw: string, flag: string): T[] => {
    const items = raw.split(",").map((item) => item.trim());
    if (all !== undefined && items.length === 1 && items[0] === all) return [...choices];
    for (const item of items) {
      if (!(choices as readonly string[]).includes(item)) {
        const allowed = all === undefined ? choices.join(", ") : `${choices.join(", ")} or ${all}`;
        throw new UsageError(`${flag} must be a comma-separated list of ${allowed} (got '${item}')`);
      }
    }
    return [...new Set(items as T[])];
  };
}

/** One --compare value, NAME=CMD, as a one-element list (the values of every --compare are concatenated). */
function compareServer(raw: string, flag: string): CompareServer[] {
  const equals = raw.indexOf("=");
  if (equals < 0) throw new UsageError(`${flag} must be NAME=CMD (got '${raw}')`);
  const name = raw.slice(0, equals).trim();
  const command = raw.slice(equals + 1);
  if (!COMPARE_NAME.test(name)) {
    throw new UsageError(`${flag} name must be lower-case letters, digits and dashes, starting with a letter (got '${name}')`);
  }
  if ((SERVER_NAMES as readonly string[]).includes(name)) {
    throw new UsageError(`${flag} name '${name}' is taken by a built-in server (${SERVER_NAMES.join(", ")})`);
  }
  if (command.trim() === "") throw new UsageError(`${flag} ${name}= needs a command after the '='`);
  return [{ name, command }];
}

function nonEmpty(raw: string, flag: string): string {
  if (raw.trim() === "") throw new UsageError(`${flag} must not be empty`);
  return raw;
}

export const benchOptions = {
  scenario: spec<ScenarioName[]>({ kind: "string", default: [...SCENARIO_NAMES], arg: "NAMES",
    parse: listOf(SCENARIO_NAMES, "all"), help: `${SCENARIO_NAMES.join("|")}|all, or a comma-separated list (default: all)` }),
  servers: spec<ServerName[]>({ kind: "string", default: [...DEFAULT_SERVERS], arg: "NAMES",
    parse: listOf(SERVER_NAMES),
    help: `which servers to measure, comma-separated, of ${SERVER_NAMES.join(", ")} (default: ${DEFAULT_SERVERS.join(",")}); ours runs on a fresh temporary --db file each start, ours-memory on --db :memory:, envelope is the ceiling sending the protocol's message frame` }),
  compare: spec<CompareServer[]>({ kind: "string", multiple: true, default: [], arg: "NAME=CMD", parse: compareServer,
    help: "also measure the server CMD starts, as NAME (repeatable); like --server-cmd, CMD must print the listening line (give it --port 0)" }),
  repeat: spec({ kind: "string", default: 1, arg: "N", parse: wholeNumber(1, 100),
    help: "rounds per scenario, servers interleaved and their order rotated each round; the table shows each figure's median" }),
  "server-cmd": spec<string | undefined>({ kind: "string", default: undefined, arg: "CMD", parse: nonEmpty,
    help: "command that starts the server to measure in place of ours (no --db is added); it must print 'WebSocket server is listening on port N' (give it a free port, e.g. --port 0)" }),
  "server-args": spec<string | undefined>({ kind: "string", default: undefined, arg: "ARGS",
    help: "extra arguments appended to ours and ours-memory (default: those of '--rate 1000000 --burst 1000000 --max-conns-per-ip 100000' that ours' --help lists: limits raised, not removed; '' for none)" }),
  clients: spec({ kind: "string", default: 32, arg: "N", parse: wholeNumber(1, 5000),
    help: "clients in the throughput, latency, flood and cluster scenarios" }),
  seconds: spec({ kind: "string", default: 5, arg: "S", parse: positiveNumber(3600),
    help: "length of each measured phase" }),
  burst: spec({ kind: "string", default: 10, arg: "N", parse: wholeNumber(1, 10_000),
    help: "messages each client sends per throughput round (throughput and cluster)" }),
  rate: spec({ kind: "string", default: 2000, arg: "MSGS", parse: positiveNumber(1e6),
    help: "offered load of the latency, flood and cluster scenarios, messages per second across all clients" }),
  "idle-connections": spec({ kind: "string", default: 10_000, arg: "N", parse: wholeNumber(1, 60_000),
    help: "connections held open by the idle scenario" }),
  "room-clients": spec({ kind: "string", default: 5000, arg: "N", parse: wholeNumber(1, 60_000),
    help: "clients in the one room of the large-room scenario" }),
  "interval-ms": spec({ kind: "string", default: 100, arg: "MS", parse: positiveNumber(60_000),
    help: "gap between messages in the large-room scenario" }),
  rooms: spec({ kind: "string", default: 1000, arg: "N", parse: wholeNumber(1, 20_000),
    help: "rooms in the many-rooms scenario" }),
  "room-size": spec({ kind: "string", default: 5, arg: "N", parse: wholeNumber(2, 1000),
    help: "clients per room in the many-rooms scenario" }),
  "rooms-rate": spec({ kind: "string", default: 5000, arg: "MSGS", parse: positiveNumber(1e6),
    help: "offered load of the many-rooms latency phase, messages per second across all rooms" }),
  batch: spec({ kind: "string", default: 200, arg: "N", parse: wholeNumber(1, 10_000),
    help: "connections opened at once; the next batch waits for this one" }),
  processes: spec({ kind: "string", default: 1, arg: "N", parse: wholeNumber(1, 64),
    help: "generator processes to split the clients across" }),
  json: spec({ kind: "boolean", default: false, help: "print the report as JSON instead of a table" }),
  help: spec({ kind: "boolean", default: false, help: "show this help and exit" }),
};

type Specs = typeof benchOptions;
export type BenchOptions = { [K in keyof Specs]: Specs[K]["default"] };

/** Reads argv into options; throws UsageError naming the flag for anything wrong. */
export function readBenchOptions(argv: string[]): BenchOptions {
  const config: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {};
  for (const [flag, s] of Object.entries(benchOptions) as Array<[string, Spec<unknown>]>) {
    config[flag] = s.multiple === true ? { type: s.kind, multiple: true } : { type: s.kind };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: joinCommandValues(argv), options: config, strict: true, allowPositionals: false });
  } catch (error) {
    throw new UsageError(describeParseError(error));
  }
  const values: Record<string, unknown> = {};
  for (const [flag, s] of Object.entries(benchOptions) as Array<[string, Spec<unknown>]>) {
    const raw = parsed.values[flag];
    if (s.kind === "boolean") values[flag] = raw === true;
    else if (Array.isArray(raw)) values[flag] = raw.flatMap((one) => (s.parse ? s.parse(String(one), `--${flag}`) : one) as unknown[]);
    else if (typeof raw === "string") values[flag] = s.parse ? s.parse(raw, `--${flag}`) : raw;
    else values[flag] = s.default;
  }
  const options = values as BenchOptions;
  const seen = new Set<string>();
  for (const { name } of options.compare) {
    if (seen.has(name)) throw new UsageError(`--compare name '${name}' is given twice`);
    seen.add(name);
  }
  return options;
}

/** Flags whose value is itself a command line, so it usually starts with a dash. */
const COMMAND_VALUED = new Set(["--server-cmd", "--server-args", "--compare"]);

/**
 * parseArgs refuses `--server-args "--rate 0"` as ambiguous; the value of these
 * flags is always the next word, so glue it on as `--server-args=--rate 0`.
 */
function joinCommandValues(argv: string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const value = argv[i + 1];
    if (COMMAND_VALUED.has(arg) && value !== undefined) {
      joined.push(`${arg}=${value}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

function describeParseError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const unknown = /Unknown option '([^']+)'/.exec(text);
  if (unknown) return `unknown option ${unknown[1]} (see --help)`;
  const missing = /Option '(?:-\w, )?(--[\w-]+)[^']*' argument missing/.exec(text);
  if (missing) return `${missing[1]} needs a value`;
  const ambiguous = /Option '(?:-\w, )?(--[\w-]+)[^']*' argument is ambiguous/.exec(text);
  if (ambiguous) return `${ambiguous[1]} needs a value; one starting with a dash goes as ${ambiguous[1]}=VALUE`;
  const unexpected = /Unexpected argument '([^']+)'/.exec(text);
  if (unexpected) return `unexpected argument '${unexpected[1]}' (see --help)`;
  return (text.split("\n")[0] ?? text).split(". ")[0] ?? text;
}

export function helpText(): string {
  const rows = Object.entries(benchOptions).map(([flag, s]: [string, Spec<unknown>]) => {
    const shown = s.kind === "boolean" || s.default === undefined || Array.isArray(s.default) ? "" : ` (default: ${String(s.default)})`;
    return { left: `  --${flag}${s.arg ? ` ${s.arg}` : ""}`, right: `${s.help}${shown}` };
  });
  const width = Math.max(...rows.map((r) => r.left.length)) + 2;
  return [
    "Usage: bun run bench [options]",
    "",
    "Drives broadcast chat servers over loopback and compares ours with two baselines",
    "measured in the same run: the ceiling (minimal Bun pub/sub) and the original (Node + ws);",
    "ours-memory (ours without persistence), envelope (the ceiling wrapping each text in the",
    "protocol's message frame: what the frame alone costs) and --compare servers are opt-in. The table has",
    "a column ours/X for every other server. On a noisy machine use --repeat 3 or more.",
    "",
    "The cluster scenario ignores --servers: it measures ours on a private redis-server",
    "(started on a free port for each run) as 1 node and as 2 nodes with the clients split",
    "between them, and ours without --redis, in columns 1-node, 2-nodes and ours.",
    "",
    "Options:",
    ...rows.map((r) => r.left.padEnd(width) + r.right),
  ].join("\n");
}
