import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createChatServer, type Backend, type ChatServer } from "../../../src/server/chat-server.ts";
import type { ChatSocket } from "../../../src/server/connection.ts";
import { createLocalFanout } from "../../../src/server/fanout.ts";
import { createMemoryHistory } from "../../../src/server/history/memory.ts";
import { createSqliteHistory } from "../../../src/server/history/sqlite.ts";
import { createLogger } from "../../../src/server/log.ts";
import type { LocalRoomRegistry } from "../../../src/server/rooms.ts";
import { rawWebSocketPeer, TestClient } from "../../helpers.ts";
import { encodeFrame, Opcode } from "../../raw-frames.ts";

let server: ChatServer | undefined;
afterEach(async () => {
  await server?.shutdown();
  server = undefined;
});

describe("a connection whose open fails", () => {
  test("is closed with 1013, and its close neither fails nor disturbs anyone else", async () => {
    const history = createMemoryHistory({ historyLimit: 100 });
    // As a cluster's shared store does while Redis is away.
    history.loadSession = () => {
      throw new Error("store unreachable");
    };
    const errors: string[] = [];
    const log = createLogger({ level: "error", format: "json", write: (line) => errors.push(line) });
    server = createChatServer({ port: 0, host: "127.0.0.1", history, log, shutdownLingerMs: 0 });

    const refused = new WebSocket(`ws://127.0.0.1:${server.port}/?session=anything`);
    const closed = await new Promise<CloseEvent>((resolve) => refused.addEventListener("close", resolve));
    expect(closed.code).toBe(1013);
    // Let the close handler run to its end.
    await Bun.sleep(50);
    expect(errors.map((line) => JSON.parse(line).message)).toEqual(["Error: store unreachable"]);
    expect(server.metrics.connectionsClosed).toBe(1);

    const next = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    const welcome = await new Promise<{ event?: string }>((resolve) => next.addEventListener("message", (e) => resolve(JSON.parse(String(e.data)))));
    expect(welcome.event).toBe("welcome");
    expect(server.connectionCount()).toBe(1);
    next.close();
  });
});

describe("a store that fails in a timer", () => {
  test("the end of a grace period and the sweep of old sessions log the failure; the server goes on", async () => {
    const history = createMemoryHistory({ historyLimit: 100 });
    // As SQLite does on a full disk: it throws at once, inside the timer's callback.
    history.deleteSession = () => {
      throw new Error("disk I/O error");
    };
    history.deleteSessionsBefore = () => {
      throw new Error("disk I/O error");
    };
    const errors: string[] = [];
    const log = createLogger({ level: "error", format: "json", write: (line) => errors.push(line) });
    server = createChatServer({ port: 0, host: "127.0.0.1", history, log, shutdownLingerMs: 0, rate: 0, graceMs: 100 });

    const gone = await TestClient.connect(`ws://127.0.0.1:${server.port}/?name=gone`);
    await gone.welcome();
    gone.ws.terminate(); // a drop, so the user is held for the grace period
    await Bun.sleep(400);
    expect(errors.map((line) => JSON.parse(line).event).sort()).toEqual(["grace_end_failed", "session_sweep_failed"]);

    const next = await TestClient.connect(`ws://127.0.0.1:${server.port}/?name=next`);
    expect((await next.welcome()).name).toBe("next");
    next.close();
  });
});

describe("a resume that fails half-way", () => {
  test("lets go of the user it had made, so its id is not held by nobody", async () => {
    const history = createMemoryHistory({ historyLimit: 100 });
    history.saveSession({ session: "s-ghost", userId: "User-ghost", name: "casper", rooms: ["lobby"], savedAt: Date.now() });
    let registry: LocalRoomRegistry<ChatSocket> | undefined;
    const backend: Backend = {
      history,
      // As a cluster's registry does when Redis goes away between two steps of a resume.
      rooms: (local) => {
        registry = local;
        return { ...local, rename: () => Promise.reject(new Error("store unreachable")) };
      },
      fanout: (local, deliver, metrics) => createLocalFanout(local, deliver, metrics),
      health: () => "ok",
      close: async () => {},
    };
    server = createChatServer({ port: 0, host: "127.0.0.1", backend, shutdownLingerMs: 0 });

    const refused = new WebSocket(`ws://127.0.0.1:${server.port}/?session=s-ghost`);
    const closed = await new Promise<CloseEvent>((resolve) => refused.addEventListener("close", resolve));
    expect(closed.code).toBe(1013);
    expect(registry!.user("User-ghost")).toBeUndefined();
    expect(registry!.userBySession("s-ghost")).toBeUndefined();
  });
});

describe("a second connection of a user already here (another tab)", () => {
  const start = (graceMs = 0) => {
    server = createChatServer({ port: 0, host: "127.0.0.1", shutdownLingerMs: 0, rate: 0, graceMs });
    return server;
  };
  const connect = async (query: string) => {
    const client = await TestClient.connect(`ws://127.0.0.1:${server!.port}/${query}`);
    return { client, welcome: await client.welcome() };
  };
  const joinsOf = (client: TestClient, userId: string) =>
    client.frames.filter((f) => f.type === "system" && f.event === "join" && f.userId === userId);

  test("landing in a room the user is not in yet: announced there, and told the room's recent past", async () => {
    start();
    const bob = await connect("?name=bob&room=dev");
    bob.client.send(JSON.stringify({ type: "message", content: "earlier in dev", ref: "m1" }));
    await bob.client.next((f) => f.type === "ack");
    const alice = await connect("?name=alice"); // in #lobby
    const tab = await connect(`?session=${encodeURIComponent(alice.welcome.session)}&room=dev`);
    expect(tab.welcome.rooms).toEqual(["dev"]);
    const history = await tab.client.next((f) => f.type === "history");
    expect(history).toMatchObject({ room: "dev", messages: [{ content: "earlier in dev" }] });
    await bob.client.next((f) => f.type === "system" && f.event === "join" && f.userId === alice.welcome.userId);
    // A third tab in #dev is not news: alice is there already.
    await connect(`?session=${encodeURIComponent(alice.welcome.session)}&room=dev`);
    bob.client.send(JSON.stringify({ type: "ping" }));
    await bob.client.next((f) => f.type === "pong");
    expect(joinsOf(bob.client, alice.welcome.userId)).toHaveLength(1);
  });

  test("coming back in the grace period after leaving every room: back in #lobby, announced and told its past", async () => {
    start(30_000);
    const bob = await connect("?name=bob");
    const alice = await connect("?name=alice");
    alice.client.send(JSON.stringify({ type: "leave", room: "lobby", ref: "l" }));
    await alice.client.next((f) => f.type === "ack" && f.ref === "l");
    alice.client.close();
    await alice.client.closed;
    const again = await connect(`?session=${encodeURIComponent(alice.welcome.session)}`);
    expect(again.welcome.rooms).toEqual(["lobby"]);
    await again.client.next((f) => f.type === "history" && f.room === "lobby");
    // Once on her first connect, once on coming back to the room she had left.
    await bob.client.next((f) => f.type === "system" && f.event === "join" && f.userId === alice.welcome.userId && joinsOf(bob.client, alice.welcome.userId).length === 2);
  });
});

describe("a token user after a restart", () => {
  // Tokens here are their own subject: enough to test what the server does with a sub.
  const auth = {
    extract: (req: Request) => new URL(req.url).searchParams.get("token") ?? undefined,
    verify: async (token: string) => ({ ok: true as const, sub: token, name: token.replace("sub-", "") }),
  };
  const dir = mkdtempSync(path.join(tmpdir(), "chat-token-restart-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const connect = async (query: string) => {
    const client = await TestClient.connect(`ws://127.0.0.1:${server!.port}/${query}`);
    return { client, welcome: await client.welcome() };
  };

  test("comes back to its rooms quietly with its last session, and cannot take another user's", async () => {
    const file = path.join(dir, "chat.db");
    const start = () => {
      server = createChatServer({ port: 0, host: "127.0.0.1", shutdownLingerMs: 0, rate: 0, graceMs: 30_000, auth, history: createSqliteHistory(file, { historyLimit: 100 }) });
    };
    start();
    const bob = await connect("?token=sub-bob");
    const alice = await connect("?token=sub-alice");
    alice.client.send(JSON.stringify({ type: "join", room: "dev", ref: "j" }));
    await alice.client.next((f) => f.type === "ack" && f.ref === "j");
    await server!.shutdown();

    start();
    const bobAgain = await connect(`?token=sub-bob&session=${encodeURIComponent(bob.welcome.session)}`);
    const aliceAgain = await connect(`?token=sub-alice&session=${encodeURIComponent(alice.welcome.session)}`);
    expect(aliceAgain.welcome).toMatchObject({ userId: "sub-alice", rooms: ["lobby", "dev"] });
    // Someone else's session under one's own token starts a user of one's own.
    const carol = await connect(`?token=sub-carol&session=${encodeURIComponent(bob.welcome.session)}`);
    expect(carol.welcome).toMatchObject({ userId: "sub-carol", rooms: ["lobby"] });
    bobAgain.client.send(JSON.stringify({ type: "ping" }));
    await bobAgain.client.next((f) => f.type === "pong");
    const joins = bobAgain.client.frames.filter((f) => f.type === "system" && f.event === "join");
    expect(joins.map((f) => (f as { userId: string }).userId)).toEqual(["sub-carol"]);
  });

  test("a token whose sub is a prefix of another user's id cannot take that user's session", async () => {
    server = createChatServer({ port: 0, host: "127.0.0.1", shutdownLingerMs: 0, rate: 0, graceMs: 30_000, auth });
    const victim = await connect("?token=bob.x");
    expect(victim.welcome.userId).toBe("bob.x");
    // "bob.x.SECRET" starts with "bob.": still bob.x's session, not bob's.
    const taker = await connect(`?token=bob&session=${encodeURIComponent(victim.welcome.session)}`);
    expect(taker.welcome.userId).toBe("bob");
    victim.client.close();
    await victim.client.closed;
    const later = await connect(`?token=bob&session=${encodeURIComponent(victim.welcome.session)}`); // bob.x away now
    expect(later.welcome.userId).toBe("bob");
  });
});

describe("the history frame of a connect and a join", () => {
  test("is complete with exactly 50 messages in the room, and not with 51", async () => {
    server = createChatServer({ port: 0, host: "127.0.0.1", shutdownLingerMs: 0, rate: 0 });
    const writer = await TestClient.connect(`ws://127.0.0.1:${server.port}/?room=fifty`);
    await writer.welcome();
    const fill = async (from: number, to: number) => {
      for (let i = from; i <= to; i++) writer.send(JSON.stringify({ type: "message", content: `m${i}`, ref: `r${i}` }));
      await writer.next((f) => f.type === "ack" && f.ref === `r${to}`);
    };
    const firstHistory = async (query: string) => {
      const reader = await TestClient.connect(`ws://127.0.0.1:${server!.port}/${query}`);
      const history = await reader.next((f) => f.type === "history");
      reader.close();
      return history as { messages: unknown[]; complete: boolean };
    };
    await fill(1, 50);
    expect(await firstHistory("?room=fifty")).toMatchObject({ complete: true, messages: { length: 50 } });
    await fill(51, 51);
    expect(await firstHistory("?room=fifty")).toMatchObject({ complete: false, messages: { length: 50 } });
  });
});

describe("a slow reader cut off by its own join's history", () => {
  test("is not left in the room: nobody hears it join, who does not list it, and the room is freed", async () => {
    const history = createMemoryHistory({ historyLimit: 10_000 });
    const text = "x".repeat(16_000);
    for (let i = 0; i < 1000; i++) history.append([{ type: "message", room: "big", userId: "User-seed0", name: "User-seed0", content: text, timestamp: "2026-01-01T00:00:00.000Z" }]);
    server = createChatServer({ port: 0, host: "127.0.0.1", history, shutdownLingerMs: 0, rate: 0, graceMs: 0, backpressureLimit: 64 * 1024 });
    const observer = await TestClient.connect(`ws://127.0.0.1:${server.port}/?name=observer&room=big`);
    await observer.welcome();
    // A peer that reads nothing from here on asks for 16 MB of history: more than the kernel's buffers take.
    const peer = await rawWebSocketPeer(server.port, "/?name=xavier");
    peer.pause();
    peer.write(encodeFrame({ opcode: Opcode.text, payload: JSON.stringify({ type: "join", room: "big", since: 0, ref: "j" }) }));
    for (let i = 0; i < 300 && server.metrics.slowReaderCloses === 0; i++) await Bun.sleep(10);
    expect(server.metrics.slowReaderCloses).toBe(1);
    peer.destroy();
    observer.send(JSON.stringify({ type: "who", room: "big", ref: "who" }));
    await observer.next((f) => f.type === "ack" && f.ref === "who");
    const presence = observer.frames.filter((f) => f.type === "presence").at(-1) as { users: { name: string }[] };
    expect(presence.users.map((u) => u.name)).toEqual(["observer"]);
    // Nobody announced xavier in a room xavier never got into.
    expect(observer.frames.filter((f) => f.type === "system" && f.event === "join" && f.name === "xavier")).toEqual([]);
    observer.close();
    await observer.closed;
    await Bun.sleep(50);
    const health = (await (await fetch(`http://127.0.0.1:${server.port}/healthz`)).json()) as { rooms: number; users: number };
    expect([health.rooms, health.users]).toEqual([0, 0]);
  });
});

describe("connection caps with tokens verified asynchronously", () => {
  test("upgrades waiting for their tokens at once still stop at the per-address cap", async () => {
    const auth = {
      extract: (req: Request) => new URL(req.url).searchParams.get("token") ?? undefined,
      verify: async (token: string) => {
        await Bun.sleep(20); // every upgrade below is waiting here at the same time
        return { ok: true as const, sub: token };
      },
    };
    server = createChatServer({ port: 0, host: "127.0.0.1", shutdownLingerMs: 0, graceMs: 0, maxConnsPerIp: 5, auth });
    const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server!.port}/?token=sub-${i}`);
      ws.addEventListener("open", () => resolve("open"));
      ws.addEventListener("error", () => resolve("refused"));
    })));
    expect(outcomes.filter((o) => o === "open")).toHaveLength(5);
    expect(server.connectionCount()).toBe(5);
  });
});

describe("names of token users", () => {
  // A token here is its own subject, with no name claim: the user is called by its id.
  const auth = {
    extract: (req: Request) => new URL(req.url).searchParams.get("token") ?? undefined,
    verify: async (token: string) => ({ ok: true as const, sub: token }),
  };
  const connect = async (token: string) => {
    const client = await TestClient.connect(`ws://127.0.0.1:${server!.port}/?token=${token}`);
    await client.welcome();
    return client;
  };
  const nick = async (client: TestClient, name: string) => {
    const ref = `nick-${name}-${Math.random()}`;
    client.send(JSON.stringify({ type: "nick", name, ref }));
    return client.next((f) => (f.type === "ack" || f.type === "error") && f.ref === ref);
  };
  const names = async (client: TestClient) => {
    client.send(JSON.stringify({ type: "who", ref: "w" }));
    const from = client.frames.length;
    await client.next((f) => f.type === "ack" && f.ref === "w", 3000, from);
    return (client.frames.slice(from).find((f) => f.type === "presence") as { users: { name: string }[] }).users.map((u) => u.name);
  };

  test("nobody else can be called by a present user's id, even after that user renamed", async () => {
    server = createChatServer({ port: 0, host: "127.0.0.1", shutdownLingerMs: 0, rate: 0, graceMs: 0, auth });
    const alice = await connect("alice");
    const mallory = await connect("mallory");
    expect(await nick(mallory, "Alice")).toMatchObject({ type: "error", code: "name_taken" });
    expect(await nick(alice, "ally")).toMatchObject({ type: "ack" });
    expect(await nick(mallory, "alice")).toMatchObject({ type: "error", code: "name_taken" });
    alice.close();
    await alice.closed;
    await Bun.sleep(20);
    expect(await nick(mallory, "alice")).toMatchObject({ type: "ack" });
  });

  test("a user who took a name that is the id of a user arriving now is called by its own id again", async () => {
    server = createChatServer({ port: 0, host: "127.0.0.1", shutdownLingerMs: 0, rate: 0, graceMs: 0, auth });
    const mallory = await connect("mallory");
    expect(await nick(mallory, "bob")).toMatchObject({ type: "ack" });
    const bob = await connect("bob");
    expect(await mallory.next((f) => f.type === "system" && f.event === "nick" && f.oldName === "bob")).toMatchObject({ userId: "mallory", name: "mallory" });
    expect(await names(bob)).toEqual(["bob", "mallory"]);
  });
});

describe("a goodbye (close 1000) and a user's other connections", () => {
  const url = () => `ws://127.0.0.1:${server!.port}`;
  const welcomeOf = async (query: string) => {
    const client = await TestClient.connect(`${url()}/${query}`);
    return { client, welcome: await client.welcome() };
  };

  test("a goodbye is held when another connection of the user dropped just before: that client may come back", async () => {
    server = createChatServer({ port: 0, host: "127.0.0.1", shutdownLingerMs: 0, rate: 0, graceMs: 30_000 });
    const first = await welcomeOf("?name=rita");
    const session = encodeURIComponent(first.welcome.session);
    // The same user on a peer whose network dies (no close frame), and on a tab that says goodbye.
    const dropped = await rawWebSocketPeer(server.port, `/?session=${session}`);
    const tab = await welcomeOf(`?session=${session}`);
    first.client.ws.close(1000);
    await first.client.closed;
    dropped.destroy();
    await Bun.sleep(50);
    tab.client.ws.close(1000);
    await tab.client.closed;
    await Bun.sleep(50);
    const back = await welcomeOf(`?session=${session}`);
    expect([back.welcome.userId, back.welcome.content]).toEqual([first.welcome.userId, "Welcome back, rita! You are in #lobby."]);
  });

  test("a connection the heartbeat finds dead after its user said goodbye elsewhere is not held: the name is free", async () => {
    server = createChatServer({ port: 0, host: "127.0.0.1", shutdownLingerMs: 0, rate: 0, graceMs: 30_000, heartbeatSeconds: 0.2 });
    const first = await welcomeOf("?name=alice");
    // The client's network died without a word: its connection never answers a ping again.
    const stale = await rawWebSocketPeer(server.port, `/?session=${encodeURIComponent(first.welcome.session)}`);
    first.client.ws.close(1000);
    await first.client.closed;
    // The client came back on a new connection (the stale one still open here), then quit.
    const again = await welcomeOf(`?session=${encodeURIComponent(first.welcome.session)}`);
    again.client.ws.close(1000);
    await again.client.closed;
    for (let i = 0; i < 50 && server.metrics.heartbeatCloses === 0; i++) await Bun.sleep(20);
    expect(server.metrics.heartbeatCloses).toBe(1);
    await Bun.sleep(20);
    const taken = await welcomeOf("?name=alice");
    expect(taken.welcome.name).toBe("alice");
    stale.destroy();
  });
});
