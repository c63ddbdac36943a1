import { afterEach, describe, expect, test } from "bun:test";
import { createChatServer, type ChatServer } from "../../../src/server/chat-server.ts";
import { createMemoryHistory } from "../../../src/server/history/memory.ts";
import { createLogger } from "../../../src/server/log.ts";

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
