// A scripted server for the clients' "a re-join refused for now" tests (the CLI's in
// test/e2e/reconnect.test.ts, the page's in test/unit/web/session-rejoin.test.ts): the
// first connection gets message 1 in its history and is dropped; the re-join (since 1)
// is refused once with `rate_limited`, live message 5 right behind the refusal, and the
// retry is answered with 2..4 and its ack. A client that keeps the replay open until
// the final answer shows 1, 2, 3, 4, 5.
import type { MessageFrame } from "../src/protocol.ts";

const T = "2026-01-01T00:00:00.000Z";
const LIMITS = { maxContentBytes: 4096, maxPayloadBytes: 65536, maxRoomsPerConnection: 100, rate: 0, burst: 40 };

const message = (id: number): MessageFrame => ({ type: "message", id, room: "lobby", userId: "User-b0001", name: "ben", content: `m${id}`, timestamp: T });

export interface RefusedRejoinServer {
  port: number;
  /** The `since` of every join received, in order. */
  joins: Array<number | undefined>;
  stop(): void;
}

export function startRefusedRejoinServer(dropAfterMs: number): RefusedRejoinServer {
  let connections = 0;
  const joins: Array<number | undefined> = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req, srv) => (srv.upgrade(req) ? undefined : new Response("no", { status: 400 })),
    websocket: {
      open(ws) {
        connections++;
        ws.send(JSON.stringify({ type: "system", event: "welcome", content: "hi", userId: "User-a0001", name: "ann", rooms: ["lobby"], session: "User-a0001.s", limits: LIMITS, timestamp: T }));
        if (connections > 1) return;
        ws.send(JSON.stringify({ type: "history", room: "lobby", messages: [message(1)], complete: true, timestamp: T }));
        setTimeout(() => ws.terminate(), dropAfterMs);
      },
      message(ws, text) {
        const frame = JSON.parse(String(text)) as { type: string; ref: string; since?: number };
        if (frame.type !== "join") return void ws.send(JSON.stringify({ type: "ack", ref: frame.ref, timestamp: T }));
        joins.push(frame.since);
        if (joins.length === 1) {
          ws.send(JSON.stringify({ type: "error", code: "rate_limited", content: "slow down", ref: frame.ref, timestamp: T }));
          ws.send(JSON.stringify(message(5)));
          return;
        }
        ws.send(JSON.stringify({ type: "history", room: "lobby", messages: [message(2), message(3), message(4)], complete: false, timestamp: T }));
        ws.send(JSON.stringify({ type: "ack", ref: frame.ref, room: "lobby", timestamp: T }));
      },
    },
  });
  return { port: server.port!, joins, stop: () => server.stop(true) };
}
