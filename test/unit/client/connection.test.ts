// The client's connection: refs never repeat between two connections of one user.
import { afterEach, expect, test } from "bun:test";
import { ChatConnection } from "../../../src/client/connection.ts";
import { cleanup, startServer, TestClient } from "../../helpers.ts";

afterEach(cleanup);

const quiet = { onOpen() {}, onFrame() {}, onClose() {} };

test("each connection numbers its refs from its own random prefix, kept across its reconnects", () => {
  // Nothing listens on port 1: the connections fail, but refs are handed out all the same.
  const first = new ChatConnection(() => "ws://127.0.0.1:1", quiet);
  const second = new ChatConnection(() => "ws://127.0.0.1:1", quiet);
  const a = [first.send({ type: "message", content: "x" }), first.send({ type: "message", content: "y" })];
  const b = second.send({ type: "message", content: "x" });
  expect(a[0]).toMatch(/^c[0-9a-z]{6}-1$/);
  expect(a[1]).toBe(a[0]!.replace(/-1$/, "-2"));
  expect(b).not.toBe(a[0]);
  void first.close();
  void second.close();
});

test("a page reloaded into the same session (a new connection, refs counted again) has its first line stored", async () => {
  const server = await startServer(["--grace", "30"]);
  const bob = await TestClient.connect(`${server.url}/?name=bob`);
  await bob.welcome();
  const sendLine = async (session: string | undefined, content: string) => {
    let welcomed!: (session: string) => void;
    const gotWelcome = new Promise<string>((resolve) => (welcomed = resolve));
    let acked!: () => void;
    const gotAck = new Promise<void>((resolve) => (acked = resolve));
    const connection = new ChatConnection(() => `${server.url}/?name=alice${session === undefined ? "" : `&session=${encodeURIComponent(session)}`}`, {
      onOpen() {},
      onFrame(frame) {
        if (frame.type === "system" && frame.event === "welcome") welcomed(frame.session);
        if (frame.type === "ack") acked();
      },
      onClose() {},
    });
    const own = await gotWelcome;
    connection.send({ type: "message", content });
    await gotAck;
    await connection.close();
    return own;
  };
  const session = await sendLine(undefined, "before the reload");
  await sendLine(session, "after the reload");
  // Both refs were "c1" before: the second line was acked as the first and never published.
  await bob.next((f) => f.type === "message" && f.content === "after the reload");
  bob.close();
});

test("a server that accepts the upgrade and closes at once is retried with growing backoff, not reset by the open", async () => {
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req, srv) => (srv.upgrade(req) ? undefined : new Response("no", { status: 400 })),
    websocket: { open: (ws) => ws.close(1013, "try again later"), message() {} },
  });
  const attempts: number[] = [];
  let connection!: ChatConnection;
  const done = new Promise<void>((resolve) => {
    connection = new ChatConnection(() => `ws://127.0.0.1:${server.port}`, {
      ...quiet,
      onReconnecting(info) {
        attempts.push(info.attempt);
        if (attempts.length === 3) resolve();
      },
    }, { backoff: { minMs: 10, maxMs: 40 } });
  });
  await done;
  await connection.close();
  server.stop(true);
  expect(attempts).toEqual([1, 2, 3]);
});

/** A server that answers each message with an error `answer(content)` names (an ack when none), recording what it receives in order. */
function scriptedServer(answer: (content: string) => string | undefined) {
  const received: string[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req, srv) => (srv.upgrade(req) ? undefined : new Response("no", { status: 400 })),
    websocket: {
      message(ws, text) {
        const frame = JSON.parse(String(text)) as { content: string; ref: string };
        received.push(frame.content);
        const code = answer(frame.content);
        const reply = code === undefined ? { type: "ack", ref: frame.ref } : { type: "error", code, content: "not now", ref: frame.ref };
        ws.send(JSON.stringify({ ...reply, timestamp: new Date().toISOString() }));
      },
    },
  });
  return { server, received };
}

/** Sends the messages on a new connection (at `pace`, a rate and a burst, if given) and resolves once every one is acked. */
async function sendUntilAcked(port: number, contents: string[], pace: [number, number] | undefined, retryRefusedMs: number): Promise<void> {
  let acks = 0;
  let allAcked!: () => void;
  const done = new Promise<void>((resolve) => (allAcked = resolve));
  const connection = new ChatConnection(() => `ws://127.0.0.1:${port}`, {
    ...quiet,
    onOpen() {
      if (pace !== undefined) connection.setRateLimit(...pace);
      for (const content of contents) connection.send({ type: "message", content });
    },
    onFrame(frame) {
      if (frame.type === "ack" && ++acks === contents.length) allAcked();
    },
  }, { retryRefusedMs });
  await done;
  await connection.close();
}

test("frames leave at the server's pace, and one refused for now goes again before the ones behind it", async () => {
  let refusedOnce = false;
  const { server, received } = scriptedServer((content) => {
    if (content !== "m2" || refusedOnce) return undefined;
    refusedOnce = true;
    return "rate_limited";
  });
  // 10 frames a second, one at a time: the refusal of m2 comes back before m3 leaves.
  await sendUntilAcked(server.port!, ["m1", "m2", "m3", "m4"], [10, 3], 50);
  server.stop(true);
  expect(received).toEqual(["m1", "m2", "m2", "m3", "m4"]);
});

test("frames refused in a row (a batch, while the server's store is away) go again in their own order", async () => {
  const refused = new Set<string>();
  const { server, received } = scriptedServer((content) => {
    if (refused.has(content)) return undefined;
    refused.add(content);
    return "unavailable";
  });
  await sendUntilAcked(server.port!, ["one", "two", "three"], undefined, 30);
  server.stop(true);
  expect(received).toEqual(["one", "two", "three", "one", "two", "three"]);
});
