// Helpers for cluster tests: a private redis-server on a free port (never the shared
// one on 6379), several chat nodes on it, and a TCP balancer in front of them that
// sends each new connection to the next node that accepts it, as a load balancer would.
import type { Subprocess } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { startServer, type ServerProcess } from "./helpers.ts";

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface RedisProcess {
  port: number;
  url: string;
  /**
   * Kills it (SIGKILL); `start` brings it back on the same port (and, with AOF, the same
   * data), with `extra` arguments for redis-server if given (say, an ACL for `default`).
   */
  kill(): Promise<void>;
  start(extra?: string[]): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A private redis-server. With `appendonly`, every write is fsynced to a file in a
 * temporary folder, so a killed and restarted Redis keeps what it acknowledged.
 */
export async function startRedis(options: { appendonly?: boolean } = {}): Promise<RedisProcess> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), "chat-redis-"));
  let proc: Subprocess | undefined;
  const start = async (extra: string[] = []) => {
    const args = ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--dir", dir, ...extra];
    args.push(...(options.appendonly ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"]));
    proc = Bun.spawn(args, { stdout: "ignore", stderr: "ignore" });
    for (let i = 0; i < 100; i++) {
      if (await canConnect(port)) return;
      await Bun.sleep(50);
    }
    throw new Error(`redis-server did not start on port ${port}`);
  };
  const kill = async () => {
    proc?.kill("SIGKILL");
    await proc?.exited;
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    start,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** `count` chat nodes on one Redis (grace 30 s unless args say otherwise). */
export async function startNodes(redis: RedisProcess, count: number, args: string[] = []): Promise<ServerProcess[]> {
  const nodes: ServerProcess[] = [];
  for (let i = 0; i < count; i++) nodes.push(await startServer(["--redis", redis.url, "--grace", "30", ...args]));
  return nodes;
}

/** A TCP balancer: each connection goes to the next port (round robin) that accepts it. */
export async function startBalancer(ports: number[]): Promise<{ port: number; url: string; close(): void }> {
  let next = 0;
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    open.add(client);
    client.pause();
    const tryPort = (attempt: number) => {
      if (attempt >= ports.length) return client.destroy();
      const port = ports[next++ % ports.length]!;
      const upstream = net.connect(port, "127.0.0.1");
      upstream.once("error", () => tryPort(attempt + 1));
      upstream.once("connect", () => {
        open.add(upstream);
        upstream.removeAllListeners("error");
        client.pipe(upstream).pipe(client);
        client.resume();
        const end = () => {
          client.destroy();
          upstream.destroy();
          open.delete(client);
          open.delete(upstream);
        };
        client.on("close", end).on("error", end);
        upstream.on("close", end).on("error", end);
      });
    };
    tryPort(0);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    close() {
      for (const socket of open) socket.destroy();
      server.close();
    },
  };
}
