// The page's session against a scripted server: a re-join refused for now (the server's
// rate limit, or its store away) is sent again, and its replay is shown whole.
import { expect, test } from "bun:test";
import type { MessageFrame } from "../../../src/protocol.ts";
import { WebSession } from "../../../src/web/session.ts";

const T = "2026-01-01T00:00:00.000Z";
const message = (id: number): MessageFrame => ({ type: "message", id, room: "lobby", userId: "User-b0001", name: "ben", content: `m${id}`, timestamp: T });

test("a re-join refused for now keeps its replay open: what it replays after a live message is still shown, in order", async () => {
  let connections = 0;
  let joins = 0;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req, srv) => (srv.upgrade(req) ? undefined : new Response("no", { status: 400 })),
    websocket: {
      open(ws) {
        connections++;
        const limits = { maxContentBytes: 4096, maxPayloadBytes: 65536, maxRoomsPerConnection: 100, rate: 0, burst: 40 };
        ws.send(JSON.stringify({ type: "system", event: "welcome", content: "hi", userId: "User-a0001", name: "ann", rooms: ["lobby"], session: "User-a0001.s", limits, timestamp: T }));
        if (connections === 1) {
          ws.send(JSON.stringify({ type: "history", room: "lobby", messages: [message(1)], complete: true, timestamp: T }));
          // The connection drops once the page has its history.
          setTimeout(() => ws.terminate(), 50);
        }
      },
      message(ws, text) {
        const frame = JSON.parse(String(text)) as { type: string; ref: string; since?: number };
        if (frame.type !== "join") {
          ws.send(JSON.stringify({ type: "ack", ref: frame.ref, timestamp: T }));
          return;
        }
        if (++joins === 1) {
          // Refused for now; a live message goes out before the retry is answered.
          ws.send(JSON.stringify({ type: "error", code: "rate_limited", content: "slow down", ref: frame.ref, timestamp: T }));
          ws.send(JSON.stringify(message(5)));
          return;
        }
        expect(frame.since).toBe(1);
        ws.send(JSON.stringify({ type: "history", room: "lobby", messages: [message(2), message(3), message(4)], complete: false, timestamp: T }));
        ws.send(JSON.stringify({ type: "ack", ref: frame.ref, timestamp: T }));
      },
    },
  });
  const shown: number[] = [];
  let replayed!: () => void;
  const done = new Promise<void>((resolve) => (replayed = resolve));
  const session = new WebSession({ pageUrl: `http://127.0.0.1:${server.port}/`, name: "ann" }, {
    onStatus() {},
    onMessages(messages) {
      shown.push(...messages.map((m) => m.id));
      if (shown.includes(5)) replayed();
    },
    onFrame() {},
    onLocal() {},
    onChange() {},
    onEnd() {},
  });
  await done;
  await Bun.sleep(50);
  await session.quit();
  server.stop(true);
  expect(shown).toEqual([1, 2, 3, 4, 5]);
});
