// The cluster scenario's Redis: a redis-server of its own on a free loopback port
// (never a shared one such as 6379, whose data is someone else's), keeping nothing on
// disk (--save "" --appendonly no: the figures are the nodes', not fsync's), one per
// run, always stopped like every other process the bench starts.
import type { Subprocess } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onExitCleanup } from "./children.ts";
import { cpuSeconds, rssBytes } from "./proc-stats.ts";
import { drain, killGroup, OutputTail, stopGroup } from "./server-process.ts";

const READY_LINE = /Ready to accept connections/;
const START_TIMEOUT_MS = 10_000;
/** Something else may take the free port between our probe and Redis binding it: then try another. */
const START_ATTEMPTS = 3;

/** How the report shows the command; the port is picked afresh for every start. */
export const REDIS_COMMAND = "redis-server --port <free port> --bind 127.0.0.1 --save '' --appendonly no";

export class RedisProcess {
  private readonly unregister: () => void;
  private exited = false;

  constructor(
    private readonly child: Subprocess,
    readonly port: number,
    private readonly output: OutputTail,
    private readonly dir: string,
  ) {
    this.unregister = onExitCleanup(() => {
      killGroup(child.pid, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    });
    void child.exited.then(() => {
      this.exited = true;
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Redis forks nothing while it saves nothing; its threads are in its own /proc entry. */
  cpuSeconds(): number {
    return this.exited ? Number.NaN : cpuSeconds(this.child.pid);
  }

  rssBytes(): number {
    return rssBytes(this.child.pid);
  }

  lastWords(): string {
    return this.output.text().split("\n").slice(-3).join(" | ");
  }

  async stop(): Promise<void> {
    if (!this.exited) await stopGroup(this.child);
    rmSync(this.dir, { recursive: true, force: true });
    this.unregister();
  }
}

/** Starts a private redis-server; throws naming the cause (not installed, did not start). */
export async function startRedis(): Promise<RedisProcess> {
  let lastError = "";
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const started = await startOnce(await freePort());
    if (started instanceof RedisProcess) return started;
    lastError = started;
    // Only a lost race for the port is worth another try.
    if (!/address already in use/i.test(started)) break;
  }
  throw new Error(`redis-server: ${lastError}`);
}

async function startOnce(port: number): Promise<RedisProcess | string> {
  const dir = mkdtempSync(join(tmpdir(), "bench-redis-"));
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--logfile", ""];
  let child: Subprocess<"ignore", "pipe", "pipe">;
  try {
    // Own process group, like the servers: a Ctrl-C reaches us, and we stop it.
    child = Bun.spawn(["redis-server", ...args], { stdio: ["ignore", "pipe", "pipe"], detached: true });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    return `cannot start it (the cluster scenario needs redis-server on PATH): ${String(error)}`;
  }
  const unregister = onExitCleanup(() => killGroup(child.pid, "SIGKILL"));
  const output = new OutputTail();
  let ready: () => void = () => {};
  const readyLine = new Promise<true>((resolve) => {
    ready = () => resolve(true);
  });
  void drain(child.stdout, (text) => {
    output.push(text);
    if (READY_LINE.test(text)) ready();
  });
  void drain(child.stderr, (text) => output.push(text));

  let timer: Timer | undefined;
  const outcome = await Promise.race([
    readyLine,
    child.exited.then((code) => `exited with code ${code} before it was ready`),
    new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`not ready within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    }),
  ]);
  clearTimeout(timer);
  unregister();
  if (outcome === true) return new RedisProcess(child, port, output, dir);
  killGroup(child.pid, "SIGKILL");
  await child.exited;
  rmSync(dir, { recursive: true, force: true });
  const said = output.text().split("\n").slice(-2).join(" | ");
  return said === "" ? outcome : `${outcome} — last output: ${said}`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
