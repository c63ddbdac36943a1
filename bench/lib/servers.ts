// The servers a run compares: ours (or any --server-cmd), the ceiling and the
// original, each as a command run directly so the pid we measure is the server's.
import { existsSync } from "node:fs";
import { UsageError, type BenchOptions, type ServerName } from "./options.ts";
import type { ServerSpec } from "./server-process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
export const OURS_ENTRY = `${ROOT}src/server.ts`;

/** Limits of ours that would measure the limiter instead of the server; lifted when ours knows the flag. */
const LIMIT_LIFTING_ARGS: Array<{ flag: string; args: string[] }> = [
  { flag: "--rate", args: ["--rate", "0"] },
  { flag: "--max-conns-per-ip", args: ["--max-conns-per-ip", "100000"] },
];

export function serverSpecs(options: BenchOptions): ServerSpec[] {
  for (const flag of ["server-cmd", "server-args"] as const) {
    if (options[flag] !== undefined && !options.servers.includes("ours")) {
      throw new UsageError(`--${flag} applies to ours, which --servers leaves out`);
    }
  }
  return options.servers.map((name) => serverSpec(name, options));
}

function serverSpec(name: ServerName, options: BenchOptions): ServerSpec {
  switch (name) {
    case "ours": {
      if (options["server-cmd"] !== undefined) {
        const extra = options["server-args"] === undefined ? [] : splitCommand(options["server-args"], "--server-args");
        return { name, argv: [...splitCommand(options["server-cmd"], "--server-cmd"), ...extra], hasRooms: true };
      }
      const extra =
        options["server-args"] === undefined ? detectLimitLiftingArgs() : splitCommand(options["server-args"], "--server-args");
      return {
        name,
        argv: [process.execPath, OURS_ENTRY, "--port", "0", "--host", "127.0.0.1", ...extra],
        hasRooms: true,
      };
    }
    case "ceiling":
      return { name, argv: [process.execPath, `${ROOT}bench/servers/ceiling.ts`, "--port", "0"], hasRooms: true };
    case "original":
      // The original has no rooms: many-rooms would only measure one 5,000-client room again.
      return { name, argv: ["node", `${ROOT}bench/servers/original.mjs`, "--port", "0"], hasRooms: false };
    default: {
      const never: never = name;
      throw new UsageError(`unknown server ${String(never)}`);
    }
  }
}

/**
 * Asks ours for --help and keeps those limit-lifting flags it lists, so the default
 * run neither trips a rate limit nor passes a flag ours would reject.
 */
export function detectLimitLiftingArgs(): string[] {
  if (!existsSync(OURS_ENTRY)) return [];
  const result = Bun.spawnSync([process.execPath, OURS_ENTRY, "--help"], { stdout: "pipe", stderr: "pipe", timeout: 10_000 });
  const help = `${result.stdout.toString()}\n${result.stderr.toString()}`;
  return LIMIT_LIFTING_ARGS.filter(({ flag }) => new RegExp(`${flag}(?![\\w-])`).test(help)).flatMap(({ args }) => args);
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
