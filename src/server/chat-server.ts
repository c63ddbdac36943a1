// Bun.serve wiring: upgrades, the shared websocket handler object, heartbeat and
// shutdown. What happens per frame is in handlers.ts.
import type { Server } from "bun";
import { CloseCode, encode, timestamp } from "../protocol.ts";
import { dropSlowReader, roomTopic, sendText, type ChatSocket, type ConnectionData } from "./connection.ts";
import { handleMessage, type ChatContext } from "./handlers.ts";
import { createMemoryHistory } from "./history/memory.ts";
import type { HistoryStore } from "./history/store.ts";
import { handleClose, handleOpen } from "./lifecycle.ts";
import { persistSession } from "./membership.ts";
import { MessageLog } from "./message-log.ts";
import { silentLogger, type Logger } from "./log.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { createLocalRooms, type UserRecord } from "./rooms.ts";

export interface ChatServerOptions {
  /** 0 picks a free port. @default 8080 */
  port: number;
  /** @default all interfaces */
  host?: string | undefined;
  /** Largest message content in UTF-8 bytes. @default 4096 */
  maxContentBytes: number;
  /** Largest WebSocket frame; bigger ones are closed with 1009. @default 65536 */
  maxPayloadBytes: number;
  /** Bytes queued for one peer before it is cut off as a slow reader. @default 1 MiB */
  backpressureLimit: number;
  /** Rooms one connection may be in at once. @default 100 */
  maxRoomsPerConnection: number;
  /** Rooms with more users than this get no join/leave notices. @default 100 */
  announceLimit: number;
  /** Where messages and sessions are kept. @default an in-memory store of historyLimit messages per room */
  history?: HistoryStore;
  /** Messages kept per room by the default in-memory store. @default 10000 */
  historyLimit: number;
  /** How long a user whose last connection dropped stays present and resumable. @default 30000 */
  graceMs: number;
  /** Seconds between heartbeat pings. @default 30 */
  heartbeatSeconds: number;
  /**
   * How long the listener stays open after every socket is closed, answering new
   * upgrades with 503, so a load balancer or a reconnecting client learns that this
   * node is going away instead of meeting a refused connection. @default 300
   */
  shutdownLingerMs: number;
  log?: Logger;
}

export interface ChatServer {
  readonly port: number;
  readonly metrics: Metrics;
  connectionCount(): number;
  /** Tells every peer, closes every socket with 1001, stops listening. Idempotent. */
  shutdown(): Promise<void>;
}

export const defaultChatServerOptions = {
  port: 8080,
  maxContentBytes: 4096,
  maxPayloadBytes: 64 * 1024,
  backpressureLimit: 1 << 20,
  maxRoomsPerConnection: 100,
  announceLimit: 100,
  historyLimit: 10_000,
  graceMs: 30_000,
  heartbeatSeconds: 30,
  shutdownLingerMs: 300,
} satisfies Partial<ChatServerOptions>;

// Stands in for the user between the upgrade and `open`, where the real one is assigned.
const PENDING_USER: UserRecord<ChatSocket> = Object.freeze({ userId: "", name: "", session: "", connections: new Set<ChatSocket>() });

export function createChatServer(input: Partial<ChatServerOptions> = {}): ChatServer {
  const options = { ...defaultChatServerOptions, ...input };
  const log = options.log ?? silentLogger;
  const metrics = createMetrics();
  const sockets = new Set<ChatSocket>();
  let nextConnId = 1;
  let shuttingDown: Promise<void> | undefined;
  // Assigned right after Bun.serve returns; handlers run only after that.
  let server!: Server<ConnectionData>;

  const history = options.history ?? createMemoryHistory({ historyLimit: options.historyLimit });
  const rooms = createLocalRooms<ChatSocket>();
  const bootTime = Date.now();
  const messages = new MessageLog({
    store: history,
    publish(room, text) {
      metrics.messagesPublished++;
      // 0: Bun dropped the frame for a subscriber at its backpressure limit. Only then
      // is the room scanned, so the ordinary path never loops over sockets.
      if (server.publish(roomTopic(room), text) !== 0) return;
      for (const member of rooms.members(room)) {
        if (member.getBufferedAmount() >= options.backpressureLimit) dropSlowReader(member, metrics);
      }
    },
    onStoreError: (error) => log.error("history_write_failed", { message: String(error) }),
  });
  const ctx: ChatContext = {
    limits: {
      maxContentBytes: options.maxContentBytes,
      maxPayloadBytes: options.maxPayloadBytes,
      maxRoomsPerConnection: options.maxRoomsPerConnection,
      backpressureLimit: options.backpressureLimit,
      announceLimit: options.announceLimit,
    },
    rooms,
    history,
    messages,
    metrics,
    log,
    graceMs: options.graceMs,
    bootTime,
    away: new Map(),
    savedSessions: new Set(),
    publish: (topic, text) => server.publish(topic, text),
    newSession: () => Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString("base64url"),
  };
  // Sessions stored by an earlier run and not resumed within one grace period are gone.
  const sessionSweep = setTimeout(() => history.deleteSessionsBefore(bootTime), options.graceMs);
  sessionSweep.unref();

  server = Bun.serve({
    port: options.port,
    ...(options.host === undefined ? {} : { hostname: options.host }),
    fetch(req, srv) {
      if (shuttingDown) return new Response("server is shutting down\n", { status: 503 });
      if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return new Response("This is a WebSocket chat server: connect with a WebSocket client.\n", {
          status: 426,
          headers: { upgrade: "websocket" },
        });
      }
      const url = new URL(req.url);
      const data: ConnectionData = {
        connId: nextConnId++,
        remote: srv.requestIP(req)?.address ?? "unknown",
        requestedName: url.searchParams.get("name") ?? undefined,
        requestedRoom: url.searchParams.get("room") ?? undefined,
        requestedSession: url.searchParams.get("session") ?? undefined,
        user: PENDING_USER,
        rooms: [],
        alive: true,
        closing: undefined,
      };
      if (srv.upgrade(req, { data })) return undefined;
      return new Response("WebSocket upgrade failed\n", { status: 400 });
    },
    websocket: {
      maxPayloadLength: options.maxPayloadBytes,
      backpressureLimit: options.backpressureLimit,
      // Bun would close a slow reader silently; we cut it off ourselves so it is counted.
      closeOnBackpressureLimit: false,
      // The heartbeat below pings; Bun's idle timeout is only the backstop.
      sendPings: false,
      idleTimeout: Math.min(960, Math.ceil(options.heartbeatSeconds * 2) + 10),
      perMessageDeflate: false,
      open(ws) {
        sockets.add(ws);
        handleOpen(ctx, ws);
      },
      message(ws, message) {
        handleMessage(ctx, ws, message);
      },
      pong(ws) {
        ws.data.alive = true;
      },
      close(ws, code, reason) {
        sockets.delete(ws);
        handleClose(ctx, ws, code, reason);
      },
    },
  });

  const heartbeat = setInterval(() => {
    for (const ws of sockets) {
      if (ws.getBufferedAmount() >= options.backpressureLimit) {
        dropSlowReader(ws, metrics);
      } else if (!ws.data.alive) {
        ws.data.closing = "heartbeat";
        metrics.heartbeatCloses++;
        ws.terminate();
      } else {
        ws.data.alive = false;
        ws.ping();
      }
    }
  }, options.heartbeatSeconds * 1000);
  heartbeat.unref();

  async function shutdown(): Promise<void> {
    clearInterval(heartbeat);
    clearTimeout(sessionSweep);
    // What was accepted is stored and published before anyone is told to go.
    await messages.flush();
    // Everyone may come back to the next run of this server within the grace period.
    for (const ws of sockets) persistSession(ctx, ws.data.user, ws.data.rooms);
    const notice = encode({ type: "system", event: "shutdown", content: "Server is shutting down", timestamp: timestamp() });
    for (const ws of sockets) {
      ws.data.closing = "shutdown";
      sendText(ws, notice, metrics);
      ws.close(CloseCode.goingAway, "server shutting down");
    }
    // Bun runs each close handler inside close(), so every socket is gone by now.
    await Bun.sleep(options.shutdownLingerMs);
    await server.stop(true);
    for (const { timer } of ctx.away.values()) clearTimeout(timer);
    history.close();
  }

  return {
    port: server.port ?? options.port,
    metrics,
    connectionCount: () => sockets.size,
    shutdown() {
      shuttingDown ??= shutdown();
      return shuttingDown;
    },
  };
}
