// Durable history, acks, sessions and resume, against real server processes.
import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { ServerFrame } from "../../src/protocol.ts";
import { cleanup, startServer, TestClient } from "../helpers.ts";

setDefaultTimeout(30_000);

type Of<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;
const dir = mkdtempSync(path.join(tmpdir(), "chat-e2e-"));
let dbCount = 0;
const newDb = () => path.join(dir, `chat-${++dbCount}.db`);
afterEach(cleanup);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const send = (client: TestClient, frame: object) => client.send(JSON.stringify(frame));
const historyOf = async (url: string, room: string, limit = 500) => {
  const reader = await TestClient.connect(`${url}/?room=${room}`);
  send(reader, { type: "history", room, limit, ref: "h" });
  await reader.next((f) => f.type === "ack" && f.ref === "h");
  const messages = reader.ofType("history").filter((h) => h.room === room).flatMap((h) => h.messages);
  reader.close();
  // The connect-time history and the answer overlap; keep each id once.
  return [...new Map(messages.map((m) => [m.id, m])).values()].sort((a, b) => a.id - b.id);
};

describe("history", () => {
  test("a newcomer gets the recent past, join replays, history pages backwards", async () => {
    const server = await startServer();
    const writer = await TestClient.connect(`${server.url}/?room=past`);
    for (let i = 1; i <= 60; i++) send(writer, { type: "message", content: `m${i}`, ref: `r${i}` });
    await writer.next((f) => f.type === "ack" && f.ref === "r60");

    const newcomer = await TestClient.connect(`${server.url}/?room=past`);
    const first = await newcomer.next<Of<"history">>((f) => f.type === "history");
    expect(first.messages.map((m) => m.id)).toEqual(Array.from({ length: 50 }, (_, i) => i + 11));
    expect(first.complete).toBe(false);
    expect(JSON.stringify(first)).not.toContain('"ref"');

    send(newcomer, { type: "history", room: "past", before: 11, limit: 8 });
    const older = await newcomer.next<Of<"history">>((f) => f.type === "history" && f.messages[0]?.id === 3);
    expect(older.messages.map((m) => m.content)).toEqual(["m3", "m4", "m5", "m6", "m7", "m8", "m9", "m10"]);
    send(newcomer, { type: "history", room: "past", before: 3 });
    expect(await newcomer.next<Of<"history">>((f) => f.type === "history" && f.messages[0]?.id === 1)).toMatchObject({ complete: true });

    const other = await TestClient.connect(server.url);
    send(other, { type: "join", room: "past", since: 57 });
    const replay = await other.next<Of<"history">>((f) => f.type === "history" && f.room === "past");
    expect(replay.messages.map((m) => m.id)).toEqual([58, 59, 60]);
    // History comes before the join notice.
    const join = await other.next((f) => f.type === "system" && f.event === "join" && f.room === "past");
    expect(other.frames.indexOf(join)).toBeGreaterThan(other.frames.indexOf(replay));
  });

  test("a join after pruning gets a gap frame with the number of lost messages", async () => {
    const server = await startServer(["--history-limit", "5"]);
    const writer = await TestClient.connect(`${server.url}/?room=short`);
    for (let i = 1; i <= 100; i++) send(writer, { type: "message", content: `m${i}`, ref: `r${i}` });
    await writer.next((f) => f.type === "ack" && f.ref === "r100");
    const late = await TestClient.connect(server.url);
    send(late, { type: "join", room: "short", since: 10 });
    const gap = await late.next<Of<"system">>((f) => f.type === "system" && f.event === "gap");
    expect(gap).toMatchObject({ room: "short", missed: 85 });
    const replay = await late.next<Of<"history">>((f) => f.type === "history" && f.room === "short");
    expect(replay.messages.map((m) => m.id)).toEqual([96, 97, 98, 99, 100]);
  });

  test("a repeated ref is acked with the first id and published once", async () => {
    const server = await startServer();
    const sender = await TestClient.connect(server.url);
    const watcher = await TestClient.connect(server.url);
    await watcher.welcome();
    send(sender, { type: "message", content: "only once", ref: "dup" });
    const firstAck = await sender.next<Of<"ack">>((f) => f.type === "ack" && f.ref === "dup");
    send(sender, { type: "message", content: "only once", ref: "dup" });
    send(sender, { type: "ping" });
    await sender.next((f) => f.type === "pong");
    const acks = sender.ofType("ack").filter((a) => a.ref === "dup");
    expect(acks.map((a) => a.id)).toEqual([firstAck.id, firstAck.id]);
    expect(watcher.ofType("message").filter((m) => m.content === "only once")).toHaveLength(1);
  });

  test("ids and history survive a restart; ids go on without reuse", async () => {
    const db = newDb();
    const first = await startServer(["--db", db]);
    const writer = await TestClient.connect(first.url);
    for (let i = 1; i <= 5; i++) send(writer, { type: "message", content: `before ${i}`, ref: `b${i}` });
    await writer.next((f) => f.type === "ack" && f.ref === "b5");
    first.proc.kill("SIGTERM");
    expect(await first.proc.exited).toBe(0);

    const second = await startServer(["--db", db]);
    const again = await TestClient.connect(second.url);
    const recent = await again.next<Of<"history">>((f) => f.type === "history");
    expect(recent.messages.map((m) => m.content)).toEqual(["before 1", "before 2", "before 3", "before 4", "before 5"]);
    send(again, { type: "message", content: "after", ref: "a1" });
    expect(await again.next((f) => f.type === "ack" && f.ref === "a1")).toMatchObject({ id: 6 });
  });

  test("after SIGKILL every acked message is in history with its id, and ids are not reused", async () => {
    const db = newDb();
    const server = await startServer(["--db", db]);
    const rooms = ["crash-a", "crash-b", "crash-a"];
    const clients = await Promise.all(rooms.map((room) => TestClient.connect(`${server.url}/?room=${room}`)));
    await Promise.all(clients.map((c) => c.welcome()));
    // Each client streams refs until the server dies under it.
    const streams = clients.map(async (client, c) => {
      for (let i = 0; i < 5000 && client.ws.readyState === WebSocket.OPEN; i++) {
        send(client, { type: "message", content: `c${c}-${i}`, ref: `c${c}-${i}` });
        if (i % 20 === 19) await Bun.sleep(1);
      }
    });
    await clients[0]!.next((f) => f.type === "ack" && f.ref === "c0-300", 10_000);
    server.proc.kill("SIGKILL");
    await Promise.all(streams);
    await Promise.all(clients.map((c) => c.closed));

    const acked = new Map<string, { room: string; id: number }>();
    for (const client of clients) for (const ack of client.ofType("ack")) acked.set(ack.ref, { room: ack.room!, id: ack.id! });
    expect(acked.size).toBeGreaterThan(300);

    const restarted = await startServer(["--db", db]);
    for (const room of ["crash-a", "crash-b"]) {
      const stored = new Map((await historyOf(restarted.url, room)).map((m) => [m.content, m.id]));
      const storedByLimit = await historyOf(restarted.url, room, 500);
      const ackedHere = [...acked].filter(([, a]) => a.room === room);
      // History keeps 10,000 per room; fetch pages until every acked id is covered.
      let before = storedByLimit[0]?.id;
      while (before !== undefined && before > 1) {
        const reader = await TestClient.connect(restarted.url);
        send(reader, { type: "history", room, before, limit: 500, ref: "p" });
        await reader.next((f) => f.type === "ack" && f.ref === "p");
        const page = reader.ofType("history").filter((h) => h.room === room).flatMap((h) => h.messages);
        for (const m of page) stored.set(m.content, m.id);
        reader.close();
        before = page[0]?.id;
        if (page.length === 0) break;
      }
      for (const [ref, { id }] of ackedHere) expect(stored.get(ref)).toBe(id);
      const maxAcked = Math.max(...ackedHere.map(([, a]) => a.id));
      const next = await TestClient.connect(`${restarted.url}/?room=${room}`);
      send(next, { type: "message", content: "after the crash", ref: "after" });
      const ack = await next.next<Of<"ack">>((f) => f.type === "ack" && f.ref === "after");
      expect(ack.id!).toBeGreaterThan(maxAcked);
    }
  });
});

describe("sessions", () => {
  test("coming back within the grace period restores the user quietly", async () => {
    const server = await startServer(["--grace", "5"]);
    const watcher = await TestClient.connect(`${server.url}/?name=watcher&room=quiet`);
    await watcher.welcome();
    const first = await TestClient.connect(`${server.url}/?name=goer&room=quiet`);
    const welcome = await first.welcome();
    send(first, { type: "join", room: "second" });
    await first.next((f) => f.type === "presence" && f.room === "second");
    first.close();
    await first.closed;
    await Bun.sleep(200);

    send(watcher, { type: "who" });
    const presence = await watcher.next<Of<"presence">>((f) => f.type === "presence");
    expect(presence.users.map((u) => u.name)).toContain("goer"); // still present while away

    const back = await TestClient.connect(`${server.url}/?session=${welcome.session}`);
    const again = await back.welcome();
    expect(again).toMatchObject({ userId: welcome.userId, name: "goer", rooms: ["quiet", "second"], session: welcome.session });
    await Bun.sleep(200);
    const noise = watcher.frames.filter((f) => f.type === "system" && (f.event === "leave" || f.event === "join") && f.name === "goer");
    expect(noise.filter((f) => f.type === "system" && f.event === "leave")).toEqual([]);
    expect(noise).toHaveLength(1); // only the original join
  });

  test("after the grace period the leave is announced and the session is gone", async () => {
    const server = await startServer(["--grace", "0.3"]);
    const watcher = await TestClient.connect(`${server.url}/?name=w2`);
    await watcher.welcome();
    const goer = await TestClient.connect(`${server.url}/?name=gone`);
    const welcome = await goer.welcome();
    goer.close();
    await watcher.next((f) => f.type === "system" && f.event === "leave" && f.name === "gone", 3000);
    const later = await TestClient.connect(`${server.url}/?session=${welcome.session}`);
    const fresh = await later.welcome();
    expect(fresh.userId).not.toBe(welcome.userId);
    expect(fresh.session).not.toBe(welcome.session);
  });

  test("a session survives a restart of the server", async () => {
    const db = newDb();
    const first = await startServer(["--db", db, "--grace", "10"]);
    const client = await TestClient.connect(`${first.url}/?name=phoenix&room=ashes`);
    const welcome = await client.welcome();
    first.proc.kill("SIGTERM");
    await first.proc.exited;
    const second = await startServer(["--db", db, "--grace", "10"]);
    const back = await TestClient.connect(`${second.url}/?session=${welcome.session}`);
    expect(await back.welcome()).toMatchObject({ userId: welcome.userId, name: "phoenix", rooms: ["ashes"] });
  });

  test("a session survives a crash of the server once the user has joined, left or renamed", async () => {
    const db = newDb();
    const first = await startServer(["--db", db, "--grace", "10"]);
    const client = await TestClient.connect(`${first.url}/?name=ember`);
    const welcome = await client.welcome();
    send(client, { type: "join", room: "embers", ref: "j" });
    await client.next((f) => f.type === "ack" && f.ref === "j");
    first.proc.kill("SIGKILL");
    await first.proc.exited;
    const second = await startServer(["--db", db, "--grace", "10"]);
    const back = await TestClient.connect(`${second.url}/?session=${welcome.session}`);
    expect(await back.welcome()).toMatchObject({ userId: welcome.userId, name: "ember", rooms: ["lobby", "embers"] });
  });

  test("an unknown session starts a new one", async () => {
    const server = await startServer();
    const client = await TestClient.connect(`${server.url}/?session=made-up`);
    const welcome = await client.welcome();
    expect(welcome.session).not.toBe("made-up");
    expect(welcome.userId).toMatch(/^User-/);
  });
});
