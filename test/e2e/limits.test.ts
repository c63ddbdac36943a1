// Abuse resistance against a real server process: rate limits and floods, connection
// caps, origins, dead peers in a busy room, compression bombs.
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import net from "node:net";
import { deflateRawSync } from "node:zlib";
import type { ServerFrame } from "../../src/protocol.ts";
import { cleanup, rawWebSocketPeer, socketClosed, startServer, TestClient, tracked } from "../helpers.ts";

setDefaultTimeout(30_000);
afterEach(cleanup);

type Of<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;
const send = (client: TestClient, frame: object) => client.send(JSON.stringify(frame));

/** The HTTP status an upgrade request gets, with optional extra headers. */
async function upgradeStatus(port: number, headers: Record<string, string> = {}, path = "/"): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", ...headers },
  });
  await response.body?.cancel();
  return response.status;
}

describe("rate limit", () => {
  test("over the limit a message gets rate_limited and is not stored; under it all goes through", async () => {
    const server = await startServer(["--rate", "5", "--burst", "10"]);
    const sender = await TestClient.connect(server.url);
    const watcher = await TestClient.connect(server.url);
    await watcher.welcome();
    for (let i = 0; i < 30; i++) send(sender, { type: "message", content: `burst ${i}`, ref: `b${i}` });
    const limited = await sender.next<Of<"error">>((f) => f.type === "error" && f.code === "rate_limited");
    expect(limited.ref).toMatch(/^b\d+$/);
    send(sender, { type: "ping" });
    await sender.next((f) => f.type === "pong"); // pings are never limited
    await Bun.sleep(100);
    const acked = sender.ofType("ack").map((a) => a.ref);
    const refused = sender.ofType("error").filter((e) => e.code === "rate_limited").map((e) => e.ref);
    expect(acked.length + refused.length).toBe(30);
    expect(acked.length).toBeGreaterThanOrEqual(10);
    expect(acked.length).toBeLessThan(20);
    // What was refused was not stored or published.
    const seen = watcher.ofType("message").map((m) => m.content);
    for (const ref of refused) expect(seen).not.toContain(`burst ${ref!.slice(1)}`);
    expect(seen).toHaveLength(acked.length);
    // After a pause the bucket has refilled.
    await Bun.sleep(1000);
    send(sender, { type: "message", content: "after the pause", ref: "later" });
    expect(await sender.next((f) => (f.type === "ack" || f.type === "error") && f.ref === "later")).toMatchObject({ type: "ack" });
  });

  test("a client that keeps flooding is closed with 1008 and others do not notice", async () => {
    const server = await startServer(["--rate", "5", "--burst", "5"]);
    const bystander = await TestClient.connect(server.url);
    const flooder = await TestClient.connect(server.url);
    await flooder.welcome();
    for (let i = 0; i < 200 && flooder.ws.readyState === WebSocket.OPEN; i++) flooder.send(`flood ${i}`);
    expect((await flooder.closed).code).toBe(1008);
    await server.stderr.waitFor(/WARN\s+flood /);
    send(bystander, { type: "message", content: "still fine", ref: "ok" });
    expect(await bystander.next((f) => f.type === "ack" || f.type === "error")).toMatchObject({ type: "ack", ref: "ok" });
  });

  test("the CLI client paces itself to the server's limit: a piped burst is all delivered", async () => {
    const server = await startServer(["--rate", "20", "--burst", "10"]);
    const lines = Array.from({ length: 40 }, (_, i) => `paced ${i}`);
    const proc = tracked(Bun.spawn(["bun", "src/client.ts", server.url], { stdin: new Blob([`${lines.join("\n")}\n`]), stdout: "pipe", stderr: "pipe" }));
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(code).toBe(0);
    for (const line of lines) expect(out).toContain(`(you): ${line}`);
    expect(out).not.toContain("rate_limited");
  });
});

describe("connection caps", () => {
  test("past --max-conns-per-ip an upgrade from the same address gets 429", async () => {
    const server = await startServer(["--max-conns-per-ip", "3"]);
    const clients = await Promise.all([1, 2, 3].map(() => TestClient.connect(server.url)));
    await Promise.all(clients.map((c) => c.welcome()));
    expect(await upgradeStatus(server.port)).toBe(429);
    clients[0]!.close();
    await clients[0]!.closed;
    await Bun.sleep(50);
    const again = await TestClient.connect(server.url);
    await again.welcome();
  });

  test("past --max-connections any upgrade gets 429", async () => {
    const server = await startServer(["--max-connections", "2", "--max-conns-per-ip", "0"]);
    await Promise.all([1, 2].map(async () => (await TestClient.connect(server.url)).welcome()));
    expect(await upgradeStatus(server.port)).toBe(429);
  });
});

describe("origins", () => {
  test("by default: no Origin and the same host are allowed, another site is refused with 403", async () => {
    const server = await startServer();
    expect(await upgradeStatus(server.port, { origin: "https://evil.example" })).toBe(403);
    expect(await upgradeStatus(server.port, { origin: `http://127.0.0.1:${server.port}` })).toBe(101);
    expect(await upgradeStatus(server.port)).toBe(101);
  });

  test("--origins allows exactly the listed origins, and * allows any", async () => {
    const listed = await startServer(["--origins", "https://chat.example.com,https://other.example"]);
    expect(await upgradeStatus(listed.port, { origin: "https://chat.example.com" })).toBe(101);
    expect(await upgradeStatus(listed.port, { origin: "https://evil.example" })).toBe(403);
    expect(await upgradeStatus(listed.port, { origin: `http://127.0.0.1:${listed.port}` })).toBe(403);
    const any = await startServer(["--origins", "*"]);
    expect(await upgradeStatus(any.port, { origin: "https://anything.example" })).toBe(101);
  });
});

describe("dead peers", () => {
  test("a peer that reads but answers no ping is closed within two intervals, even in a busy room", async () => {
    const server = await startServer(["--heartbeat", "0.3"]);
    const dead = await rawWebSocketPeer(server.port);
    dead.on("data", () => {}); // reads everything, answers nothing
    const talker = await TestClient.connect(server.url);
    const started = performance.now();
    const chatter = setInterval(() => talker.send("busy"), 20);
    try {
      await socketClosed(dead, 3000);
    } finally {
      clearInterval(chatter);
    }
    expect(performance.now() - started).toBeLessThan(3000);
    await server.stderr.waitFor(/disconnect .*cause=heartbeat/);
  });
});

describe("compression", () => {
  test("off by default: the server does not agree to permessage-deflate", async () => {
    const server = await startServer();
    const reply = await rawUpgrade(server.port, "permessage-deflate");
    expect(reply).toContain("101");
    expect(reply.toLowerCase()).not.toContain("sec-websocket-extensions");
  });

  test("with --compress a compression bomb is closed with 1009 and the server's memory does not grow", async () => {
    const server = await startServer(["--compress", "--max-payload", "65536"]);
    const rssBefore = await rss(server.proc.pid);
    const socket = net.connect(server.port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    const reply = await handshake(socket, server.port, "permessage-deflate");
    expect(reply.toLowerCase()).toContain("permessage-deflate");
    // 64 MiB of zeros deflate to about 64 KiB; the frame itself is small.
    const deflated = deflateRawSync(Buffer.alloc(64 << 20), { level: 9 });
    const payload = deflated.subarray(0, deflated.length); // final block; no sync-flush tail needed
    socket.write(maskedFrame(0x1, payload, true));
    const closeCode = await readCloseCode(socket, 5000);
    expect(closeCode).toBe(1009);
    const rssAfter = await rss(server.proc.pid);
    expect(rssAfter - rssBefore).toBeLessThan(32 << 20);
    const other = await TestClient.connect(server.url);
    other.send("the server is fine");
    await other.next((f) => f.type === "message" && f.content === "the server is fine");
  });
});

// ---------------------------------------------------------------- raw helpers

async function rss(pid: number): Promise<number> {
  const status = await Bun.file(`/proc/${pid}/status`).text();
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

function handshake(socket: net.Socket, port: number, extensions: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once("data", (chunk: Buffer) => resolve(chunk.toString("latin1")));
    socket.write(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: ${extensions}\r\n\r\n`,
    );
  });
}

async function rawUpgrade(port: number, extensions: string): Promise<string> {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  const reply = await handshake(socket, port, extensions);
  socket.destroy();
  return reply;
}

function maskedFrame(opcode: number, payload: Buffer, compressed: boolean): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const length = payload.length;
  const header = length < 126 ? Buffer.alloc(2) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  header[0] = 0x80 | (compressed ? 0x40 : 0) | opcode;
  if (length < 126) header[1] = 0x80 | length;
  else if (length < 65536) {
    header[1] = 0x80 | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ mask[i % 4]!;
  return Buffer.concat([header, mask, body]);
}

/** Reads server frames until a close frame; its status code (or 1006 if the socket just ends). */
function readCloseCode(socket: net.Socket, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error("no close frame in time")), timeoutMs);
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 2) {
        const opcode = buffer[0]! & 0x0f;
        let length = buffer[1]! & 0x7f;
        let offset = 2;
        if (length === 126) {
          length = buffer.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          length = Number(buffer.readBigUInt64BE(2));
          offset = 10;
        }
        if (buffer.length < offset + length) return;
        if (opcode === 0x8) {
          clearTimeout(timer);
          resolve(length >= 2 ? buffer.readUInt16BE(offset) : 1005);
          return;
        }
        buffer = buffer.subarray(offset + length);
      }
    });
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(1006);
    });
  });
}
