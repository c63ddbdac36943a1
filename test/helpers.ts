// Shared test helpers: real server processes on free ports, WebSocket clients that
// collect frames, raw TCP peers for misbehaving clients. Everything started here is
// tracked and killed by `cleanup()` so no test leaves a process behind.
import type { Subprocess } from "bun";
import net from "node:net";
import path from "node:path";
import type { ServerFrame } from "../src/protocol.ts";

export const ROOT = path.resolve(import.meta.dir, "..");
const live = new Set<Subprocess>();
const sockets = new Set<{ close(): void }>();

/** A process a test started itself, killed by `cleanup()` like the helpers' own (a failed test leaves none behind). */
export function tracked<T extends Subprocess>(proc: T): T {
  live.add(proc);
  return proc;
}

/** Kills every process and closes every socket the helpers started. Call in afterEach/afterAll. */
export async function cleanup(): Promise<void> {
  for (const socket of sockets) socket.close();
  sockets.clear();
  for (const proc of live) proc.kill("SIGKILL");
  await Promise.all([...live].map((proc) => proc.exited));
  live.clear();
}

/** Reads a stream line by line into an array that tests can inspect and wait on. */
export class LineCollector {
  readonly lines: string[] = [];
  private waiters: Array<() => void> = [];
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = this.pump(stream);
  }

  private async pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of stream) {
      buffer += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        this.lines.push(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
      }
      this.wake();
    }
    if (buffer) this.lines.push(buffer);
    this.wake();
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  text(): string {
    return this.lines.join("\n");
  }

  /** Resolves with the first line matching, or throws after `timeoutMs` listing what was seen. */
  async waitFor(match: RegExp | string, timeoutMs = 5000): Promise<string> {
    const test = (line: string) => (typeof match === "string" ? line.includes(match) : match.test(line));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(test);
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${match}; lines so far:\n${this.text()}`);
      await Promise.race([new Promise<void>((resolve) => this.waiters.push(resolve)), Bun.sleep(Math.min(left, 100))]);
    }
  }
}

export interface ServerProcess {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  port: number;
  url: string;
  stdout: LineCollector;
  stderr: LineCollector;
}

/**
 * Starts `bun src/server.ts` as a user would, on a free port, and waits for the
 * listening line. Unless the test says otherwise: history in memory (no files left
 * behind), no grace period (a leave is announced at once) and no rate limit (tests
 * send bursts); later flags win.
 */
export async function startServer(args: string[] = [], env: Record<string, string> = {}): Promise<ServerProcess> {
  const proc = Bun.spawn(["bun", "src/server.ts", "--port", "0", "--host", "127.0.0.1", "--db", ":memory:", "--grace", "0", "--rate", "0", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  live.add(proc);
  const stdout = new LineCollector(proc.stdout);
  const stderr = new LineCollector(proc.stderr);
  const line = await stdout.waitFor(/WebSocket server is listening on port \d+/, 10_000).catch((error: Error) => {
    throw new Error(`${error.message}\nstderr:\n${stderr.text()}`);
  });
  const port = Number(/(\d+)$/.exec(line)![1]);
  return { proc, port, url: `ws://127.0.0.1:${port}`, stdout, stderr };
}

/** Runs a command to completion with piped stdin, bounded in time. */
export async function runCommand(
  cmd: string[],
  options: { stdin?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(cmd, {
    cwd: ROOT,
    // A server started here keeps its history in memory, so no ./data is left behind.
    env: { ...process.env, NO_COLOR: "", CHAT_DB: ":memory:", ...options.env },
    stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  live.add(proc);
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs ?? 10_000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  live.delete(proc);
  return { code, stdout, stderr };
}

/** A WebSocket client that records every frame and can wait for one. */
export class TestClient {
  readonly frames: ServerFrame[] = [];
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];

  constructor(url: string, options?: { headers?: Record<string, string> }) {
    this.ws = options === undefined ? new WebSocket(url) : new WebSocket(url, options);
    sockets.add(this);
    this.opened = new Promise((resolve, reject) => {
      this.ws.addEventListener("open", () => resolve());
      this.ws.addEventListener("close", () => reject(new Error(`could not connect to ${url}`)));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.ws.addEventListener("close", (event) => {
        resolve({ code: event.code, reason: event.reason });
        this.wake();
      });
    });
    this.ws.addEventListener("message", (event) => {
      this.frames.push(JSON.parse(String(event.data)) as ServerFrame);
      this.wake();
    });
  }

  static async connect(url: string): Promise<TestClient> {
    const client = new TestClient(url);
    await client.opened;
    return client;
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  send(data: string | Uint8Array): void {
    this.ws.send(data);
  }

  close(): void {
    this.ws.close();
  }

  /** The first frame (after `from`) matching the predicate; throws after `timeoutMs`. */
  async next<T extends ServerFrame = ServerFrame>(
    predicate: (frame: ServerFrame) => boolean,
    timeoutMs = 3000,
    from = 0,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.slice(from).find(predicate);
      if (found !== undefined) return found as T;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; got:\n${this.frames.map((f) => JSON.stringify(f)).join("\n")}`);
      await Promise.race([new Promise<void>((resolve) => this.waiters.push(resolve)), Bun.sleep(Math.min(left, 50))]);
    }
  }

  /** Waits for the welcome frame and returns it. */
  welcome() {
    return this.next<Extract<ServerFrame, { type: "system"; event: "welcome" }>>(
      (f) => f.type === "system" && f.event === "welcome",
    );
  }

  ofType<K extends ServerFrame["type"]>(type: K): Extract<ServerFrame, { type: K }>[] {
    return this.frames.filter((f) => f.type === type) as Extract<ServerFrame, { type: K }>[];
  }
}

/**
 * A frame with what differs by user and by moment masked, its keys kept in order: the
 * top-level userId as <id> wherever it appears, a session's secret as <secret>, no
 * timestamp. Two servers (or two ways of connecting) that say the same thing mask alike.
 */
export function maskedFrame(frame: ServerFrame): Record<string, unknown> {
  const { userId, timestamp, ...rest } = frame as ServerFrame & Record<string, unknown>;
  void timestamp;
  // A session is its userId, a dot and a secret of 24 base64url characters.
  if (typeof rest.session === "string") rest.session = rest.session.replace(/\.[A-Za-z0-9_-]{24}$/, ".<secret>");
  const text = typeof userId === "string" ? JSON.stringify(rest).replaceAll(userId, "<id>") : JSON.stringify(rest);
  return { keys: Object.keys(frame), ...(JSON.parse(text) as object) };
}

/**
 * A raw TCP peer that completes the WebSocket handshake and then does only what the
 * test tells it: never reads (a slow reader), never answers pings (a dead peer).
 */
export async function rawWebSocketPeer(port: number, pathAndQuery = "/"): Promise<net.Socket> {
  const socket = net.connect(port, "127.0.0.1");
  sockets.add({ close: () => socket.destroy() });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.write(
        `GET ${pathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      );
    });
    socket.once("data", (chunk: Buffer) => {
      if (chunk.toString("latin1").startsWith("HTTP/1.1 101")) resolve();
      else reject(new Error(`upgrade refused: ${chunk.toString("latin1").split("\r\n")[0]}`));
    });
  });
  return socket;
}

/** Resolves when the socket is closed by the other side, or rejects after `timeoutMs`. */
export function socketClosed(socket: net.Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed || socket.readableEnded) return resolve();
    const timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    socket.once("close", done);
    socket.once("end", done);
  });
}

/**
 * A TCP proxy in front of a server, so a test can break clients' connections without
 * touching the server: `stall("up")` swallows what clients send, `stall("down")`
 * what the server sends (acks get lost), and `cut()` destroys every connection.
 * `abandon()` drops only the clients' side: the server's connections stay open and
 * quiet, as after a network that died without a word (until the heartbeat notices).
 */
export async function startProxy(targetPort: number): Promise<{ port: number; stall(direction: "up" | "down"): void; cut(): void; abandon(): void; close(): void }> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const abandoned = new Set<net.Socket>();
  const stalled = { up: false, down: false };
  const server = net.createServer((inbound) => {
    const outbound = net.connect(targetPort, "127.0.0.1");
    const pair: [net.Socket, net.Socket] = [inbound, outbound];
    pairs.add(pair);
    inbound.on("data", (chunk) => stalled.up || outbound.write(chunk));
    outbound.on("data", (chunk) => stalled.down || inbound.write(chunk));
    const drop = () => {
      inbound.destroy();
      if (!abandoned.has(outbound)) outbound.destroy();
      pairs.delete(pair);
    };
    inbound.on("error", drop).on("close", drop);
    outbound.on("error", drop).on("close", drop);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxy = {
    port: (server.address() as net.AddressInfo).port,
    stall(direction: "up" | "down") {
      stalled[direction] = true;
    },
    cut() {
      for (const [inbound, outbound] of pairs) {
        inbound.destroy();
        outbound.destroy();
      }
      pairs.clear();
      stalled.up = false;
      stalled.down = false;
    },
    abandon() {
      for (const [inbound, outbound] of pairs) {
        abandoned.add(outbound);
        outbound.removeAllListeners("data");
        inbound.destroy();
      }
    },
    close() {
      proxy.cut();
      for (const outbound of abandoned) outbound.destroy();
      server.close();
    },
  };
  sockets.add(proxy);
  return proxy;
}
