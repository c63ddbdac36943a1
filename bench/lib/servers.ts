// The servers a run compares: ours (or any --server-cmd), the ceiling, the original,
// ours-memory, envelope and any --compare servers, each as a command run directly so the pid
// we measure is the server's.
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError, type BenchOptions, type ServerName } from "./options.ts";
import { FRESH_DB_COUNTER, type ServerSpec } from "./server-process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
export const OURS_ENTRY = `${ROOT}src/server.ts`;

/** Limits of ours that would measure the limiter instead of the server; lifted when ours knows the flag. */
const LIMIT_LIFTING_ARGS: Array<{ flag: string; args: string[] }> = [
  // Raised, not removed (--rate 0 would skip the bucket): its cost stays in the figures.
  { flag: "--rate", args: ["--rate", "1000000", "--burst", "1000000"] },
  { flag: "--max-conns-per-ip", args: ["--max-conns-per-ip", "100000"] },
];

/**
 * Ours' rate limit in the flood scenario. Its defaults (20/s, bursts of 40) would
 * refuse the well-behaved clients too (2000 msgs/s over 32 clients is 62.5/s each),
 * so everyone gets 100/s with bursts of 200: the well-behaved clients stay under it,
 * a flooder goes far over it.
 */
export const FLOOD_LIMITS = { rate: 100, burst: 200 } as const;

/**
 * Ours' history file for one server start: the bench must never write ./data, and a
 * fresh file per start keeps one run's history out of the next. startServer puts the
 * start's number in place of the counter and deletes the file (and -wal, -shm, -pending) after.
 */
export function freshDbTemplate(): string {
  return join(tmpdir(), `bench-ours-${process.pid}-${FRESH_DB_COUNTER}.db`);
}

/** The --servers list, then the --compare servers in the order given. */
export function serverSpecs(options: BenchOptions): ServerSpec[] {
  if (options["server-cmd"] !== undefined && !options.servers.includes("ours")) {
    throw new UsageError("--server-cmd applies to ours, which --servers leaves out");
  }
  if (options["server-args"] !== undefined && !options.servers.some((s) => s === "ours" || s === "ours-memory")) {
    throw new UsageError("--server-args applies to ours and ours-memory, which --servers leaves out");
  }
  return [
    ...options.servers.map((name) => serverSpec(name, options)),
    ...options.compare.map(({ name, command }) => ({ name, argv: splitCommand(command, "--compare"), hasRooms: true })),
  ];
}

/**
 * Ours as the run starts it (fresh --db, limit-lifting flags or --server-args, or
 * --server-cmd) whether or not --servers lists it: the cluster scenario runs ours.
 */
export function oursSpec(options: BenchOptions): ServerSpec {
  return serverSpec("ours", options);
}

/** What ours and ours-memory get after their own flags: --server-args, or the limit-lifting flags ours knows. */
function oursExtraArgs(options: BenchOptions): string[] {
  return options["server-args"] === undefined ? detectLimitLiftingArgs() : splitCommand(options["server-args"], "--server-args");
}

/**
 * Ours with FLOOD_LIMITS in force, when ours knows --rate: the other limit-lifting flags
 * stay (every bench client shares 127.0.0.1, so the per-address cap would measure the
 * bench), and --server-args still come last and win.
 */
function oursLimited(argv: string[], options: BenchOptions): ServerSpec["limited"] {
  if (!knowsRateFlag()) return undefined;
  const lifted =
    options["server-args"] === undefined
      ? withoutRateArgs(detectLimitLiftingArgs())
      : splitCommand(options["server-args"], "--server-args");
  const limits = ["--rate", String(FLOOD_LIMITS.rate), "--burst", String(FLOOD_LIMITS.burst)];
  const extra = options["server-args"] === undefined ? [...lifted, ...limits] : [...limits, ...lifted];
  return { argv: [...argv, ...extra], ...FLOOD_LIMITS };
}

function withoutRateArgs(args: string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i];
    if (flag !== "--rate" && flag !== "--burst" && flag !== undefined) kept.push(flag, args[i + 1] ?? "");
  }
  return kept;
}

function serverSpec(name: ServerName, options: BenchOptions): ServerSpec {
  const oursBase = [process.execPath, OURS_ENTRY, "--port", "0", "--host", "127.0.0.1"];
  switch (name) {
    case "ours": {
      if (options["server-cmd"] !== undefined) {
        const extra = options["server-args"] === undefined ? [] : splitCommand(options["server-args"], "--server-args");
        return { name, argv: [...splitCommand(options["server-cmd"], "--server-cmd"), ...extra], hasRooms: true };
      }
      // Extra arguments last, so a --db in --server-args wins over the temporary file.
      const db = freshDbTemplate();
      const own = [...oursBase, "--db", db];
      const limited = oursLimited(own, options);
      return {
        name,
        argv: [...own, ...oursExtraArgs(options)],
        hasRooms: true,
        freshDb: db,
        ...(limited === undefined ? {} : { limited }),
      };
    }
    case "ours-memory": {
      const own = [...oursBase, "--db", ":memory:"];
      const limited = oursLimited(own, options);
      return { name, argv: [...own, ...oursExtraArgs(options)], hasRooms: true, ...(limited === undefined ? {} : { limited }) };
    }
    case "ceiling":
      return { name, argv: [process.execPath, `${ROOT}bench/servers/ceiling.ts`, "--port", "0"], hasRooms: true };
    case "envelope":
      return { name, argv: [process.execPath, `${ROOT}bench/servers/ceiling.ts`, "--port", "0", "--envelope"], hasRooms: true };
    case "original":
      // The original has no rooms: many-rooms would only measure one 5,000-client room again.
      return { name, argv: ["node", `${ROOT}bench/servers/original.mjs`, "--port", "0"], hasRooms: false };
    default: {
      const never: never = name;
      throw new UsageError(`unknown server ${String(never)}`);
    }
  }
}

let detected: string[] | undefined;
let detectedHelp: string | undefined;

/**
 * Asks ours for --help (once per run) and keeps those limit-lifting flags it lists,
 * so the default run neither trips a rate limit nor passes a flag ours would reject.
 */
export function detectLimitLiftingArgs(): string[] {
  detected ??= askOursForLimitLiftingArgs();
  return [...detected];
}

/** Whether ours' --help lists --rate, i.e. it has a per-connection rate limit the flood scenario can keep on. */
function knowsRateFlag(): boolean {
  return listsFlag(oursHelp(), "--rate");
}

function oursHelp(): string {
  if (detectedHelp === undefined) {
    if (!existsSync(OURS_ENTRY)) {
      detectedHelp = "";
    } else {
      const result = Bun.spawnSync([process.execPath, OURS_ENTRY, "--help"], { stdout: "pipe", stderr: "pipe", timeout: 10_000 });
      detectedHelp = `${result.stdout.toString()}\n${result.stderr.toString()}`;
    }
  }
  return detectedHelp;
}

function listsFlag(help: string, flag: string): boolean {
  return new RegExp(`${flag}(?![\\w-])`).test(help);
}

function askOursForLimitLiftingArgs(): string[] {
  const help = oursHelp();
  return LIMIT_LIFTING_ARGS.filter(({ flag }) => listsFlag(help, flag)).flatMap(({ args }) => args);
}

/** Splits a command line on spaces, honouring '...' and "..." quotes; no other shell syntax. */
export function splitCommand(line: string, flag: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: string | undefined;
  for (const char of line) {
    if (quote !== undefined) {
      if (char === quote) quote = undefined;
      else word += char;
    } else if (char === "'" || char === '"') {
      quote = char;
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += char;
      inWord = true;
    }
  }
  if (quote !== undefined) throw new UsageError(`${flag} has an unclosed ${quote} quote`);
  if (inWord) words.push(word);
  return words;
}
