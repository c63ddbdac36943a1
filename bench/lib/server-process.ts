// Starting a server under test as its own process, learning its port from the line
// it prints, and stopping it (and anything it forked) for sure.
import type { Subprocess } from "bun";
import { rmSync } from "node:fs";
import { onExitCleanup } from "./children.ts";
import { treeCpuSeconds, treeRssBytes } from "./proc-stats.ts";

const LISTENING_LINE = /WebSocket server is listening on port (\d+)/;
const STDERR_TAIL_LINES = 20;
const STOP_GRACE_MS = 2000;

/** A server failed to start or to announce its port; carries what it said. */
export class ServerStartError extends Error {
  override name = "ServerStartError";
  constructor(
    readonly serverName: string,
    reason: string,
    readonly output: string,
  ) {
    super(`${serverName}: ${reason}${output ? ` — last output: ${output.split("\n").slice(-3).join(" | ")}` : ""}`);
  }
}

/** Stands for the start's number in ServerSpec.freshDb (and so in the command the report shows). */
export const FRESH_DB_COUNTER = "<n>";
let freshDbStarts = 0;

export interface ServerSpec {
  /** Column name in the report: ours, ceiling, original, ours-memory, envelope or a --compare name. */
  name: string;
  /** Executable and arguments, run directly (no shell) so the pid we get is the server. */
  argv: string[];
  /** False when the server is known to have no rooms; many-rooms then reports n/a. */
  hasRooms: boolean;
  /**
   * A database path containing FRESH_DB_COUNTER, also found verbatim in argv: each start
   * gets its own file, deleted with its -wal, -shm and -pending once the server is gone.
   */
  freshDb?: string;
  /**
   * How to start this server with its own per-connection rate limit in force, for
   * scenarios that measure the limit (flood); absent when the server has none we know of.
   */
  limited?: { argv: string[]; rate: number; burst: number };
  /** Set on the spec a run actually started when it used `limited`: the limits in force. */
  limitsInForce?: { rate: number; burst: number };
}

/** The database files of one start: the file and SQLite's companions. */
function dbFiles(path: string): string[] {
  return [path, `${path}-wal`, `${path}-shm`, `${path}-journal`, `${path}-pending`];
}

function removeDbFiles(path: string | undefined): void {
  if (path === undefined) return;
  for (const file of dbFiles(path)) {
    try {
      rmSync(file, { force: true });
    } catch {
      // Best effort; a leftover file is reported by the smoke test, not fatal to a run.
    }
  }
}

export class ServerProcess {
  private readonly unregister: () => void;
  private exited = false;

  constructor(
    readonly spec: ServerSpec,
    private readonly child: Subprocess,
    readonly port: number,
    private readonly output: OutputTail,
    /** This start's database file, when the spec asks for a fresh one. */
    readonly dbPath: string | undefined,
  ) {
    this.unregister = onExitCleanup(() => {
      killGroup(child.pid, "SIGKILL");
      removeDbFiles(dbPath);
    });
    void child.exited.then(() => {
      this.exited = true;
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  get alive(): boolean {
    return !this.exited;
  }

  rssBytes(): number {
    return treeRssBytes(this.child.pid);
  }

  cpuSeconds(): number {
    return treeCpuSeconds(this.child.pid);
  }

  /** The last thing the server said, starting at an error if there is one (a crash's message, not its stack bottom). */
  lastWords(): string {
    const lines = this.output.text().split("\n");
    const errorAt = lines.findLastIndex((line) => /error|exception|panic|uncaught/i.test(line));
    const from = errorAt >= 0 ? errorAt : Math.max(0, lines.length - 3);
    return lines.slice(from, from + 3).map((line) => line.trim()).join(" | ");
  }

  /** SIGTERM to the whole process group, SIGKILL if it is still there after a grace period; then its database files go. */
  async stop(): Promise<void> {
    if (!this.exited) await stopGroup(this.child);
    // A forked grandchild may survive its parent; the group kill reaches it too.
    killGroup(this.child.pid, "SIGKILL");
    removeDbFiles(this.dbPath);
    this.unregister();
  }
}

/** SIGTERM to a child's process group, SIGKILL if it is still there after STOP_GRACE_MS; resolves when it exited. */
export async function stopGroup(child: { pid: number; exited: Promise<number> }): Promise<void> {
  killGroup(child.pid, "SIGTERM");
  const timer = setTimeout(() => killGroup(child.pid, "SIGKILL"), STOP_GRACE_MS);
  await child.exited;
  clearTimeout(timer);
}

export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already empty.
  }
}

/** The last lines a process wrote to stdout and stderr, for error messages. */
export class OutputTail {
  private lines: string[] = [];

  push(chunk: string): void {
    for (const line of chunk.split("\n")) {
      if (line.trim() === "") continue;
      this.lines.push(line);
    }
    if (this.lines.length > STDERR_TAIL_LINES) this.lines = this.lines.slice(-STDERR_TAIL_LINES);
  }

  text(): string {
    return this.lines.join("\n");
  }
}

/**
 * Spawns the server in its own process group and resolves once it prints its
 * listening line. Keeps reading both pipes afterwards: a server blocked on a full
 * stdout pipe would measure the pipe, not the server.
 */
export async function startServer(spec: ServerSpec, timeoutMs = 15_000): Promise<ServerProcess> {
  const template = spec.freshDb;
  const dbPath = template === undefined ? undefined : template.replace(FRESH_DB_COUNTER, String(++freshDbStarts));
  const argv = template === undefined ? spec.argv : spec.argv.map((arg) => (arg === template ? (dbPath ?? arg) : arg));
  const [command, ...args] = argv;
  if (command === undefined) throw new ServerStartError(spec.name, "empty server command", "");
  // A file left by an earlier run that reused our pid must not become this start's history.
  removeDbFiles(dbPath);
  let child: Subprocess<"ignore", "pipe", "pipe">;
  try {
    child = Bun.spawn([command, ...args], { stdio: ["ignore", "pipe", "pipe"], detached: true });
  } catch (error) {
    throw new ServerStartError(spec.name, `cannot start '${argv.join(" ")}': ${String(error)}`, "");
  }
  const unregister = onExitCleanup(() => {
    killGroup(child.pid, "SIGKILL");
    removeDbFiles(dbPath);
  });
  const output = new OutputTail();
  let announce: (port: number) => void = () => {};
  const announced = new Promise<number>((resolve) => {
    announce = resolve;
  });
  void drain(child.stdout, (chunk) => {
    output.push(chunk);
    const match = LISTENING_LINE.exec(chunk);
    if (match) announce(Number(match[1]));
  });
  void drain(child.stderr, (chunk) => output.push(chunk));

  let timer: Timer | undefined;
  const outcome = await Promise.race([
    announced,
    child.exited.then((code) => `exited with code ${code} before listening`),
    new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`did not print its listening line within ${timeoutMs} ms`), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  unregister();
  if (typeof outcome === "string") {
    killGroup(child.pid, "SIGKILL");
    await child.exited;
    removeDbFiles(dbPath);
    throw new ServerStartError(spec.name, outcome, output.text());
  }
  return new ServerProcess(spec, child, outcome, output, dbPath);
}

/** Reads a pipe to its end, handing on complete lines; a child blocked on a full pipe would stall. */
export async function drain(stream: ReadableStream<Uint8Array>, onText: (text: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  // Lines can straddle chunks; only complete lines are matched against the listening line.
  let partial = "";
  for await (const chunk of stream) {
    partial += decoder.decode(chunk, { stream: true });
    const end = partial.lastIndexOf("\n");
    if (end < 0) continue;
    onText(partial.slice(0, end + 1));
    partial = partial.slice(end + 1);
  }
  if (partial !== "") onText(partial);
}
