import { afterEach, expect, test } from "bun:test";
import { explainConnectFailure } from "../../../src/client/diagnose.ts";
import { createChatServer, type ChatServer } from "../../../src/server/chat-server.ts";

let server: ChatServer | undefined;
afterEach(async () => {
  await server?.shutdown();
  server = undefined;
});

test("asking a server that would accept now opens no connection: nobody is announced for nothing", async () => {
  server = createChatServer({ port: 0, host: "127.0.0.1", shutdownLingerMs: 0 });
  const why = await explainConnectFailure(`ws://127.0.0.1:${server.port}/?name=probe`);
  expect(why).toBe("the server accepted the WebSocket handshake on a second try (try again)");
  expect(server.metrics.connectionsOpened).toBe(0);
});

test("a refusal is named with its status and reason", async () => {
  server = createChatServer({ port: 0, host: "127.0.0.1", shutdownLingerMs: 0, maxConnsPerIp: 1 });
  const first = new WebSocket(`ws://127.0.0.1:${server.port}/`);
  await new Promise((resolve) => first.addEventListener("message", resolve, { once: true }));
  const why = await explainConnectFailure(`ws://127.0.0.1:${server.port}/`);
  expect(why).toMatch(/^the server refused the WebSocket handshake: HTTP 429 /);
  first.close();
});
