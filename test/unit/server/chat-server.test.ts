import { afterEach, describe, expect, test } from "bun:test";
import { createChatServer, type Backend, type ChatServer } from "../../../src/server/chat-server.ts";
import type { ChatSocket } from "../../../src/server/connection.ts";
import { createLocalFanout } from "../../../src/server/fanout.ts";
import { createMemoryHistory } from "../../../src/server/history/memory.ts";
import { createLogger } from "../../../src/server/log.ts";
import type { LocalRoomRegistry } from "../../../src/server/rooms.ts";

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
