// Bun.serve wiring: HTTP routes and upgrades, the shared websocket handler object,
// heartbeat and shutdown. What happens per frame is in handlers.ts; who may connect
// in admission.ts; what operators read in ops.ts.
import type { Server } from "bun";
import { checkOrigin, ConnectionCaps, refusalResponse, type Refusal } from "./admission.ts";
import { CloseCode, encode, PROBE_HEADER, timestamp, type Limits } from "../protocol.ts";
import { dropSlowReader, newRare, NO_ROOMS, PENDING_USER, sendError, sendText, type ChatSocket, type ConnectionAuth, type ConnectionData } from "./connection.ts";
import { drive } from "./awaitable.ts";
import { createLocalFanout, createRoomDelivery, type Fanout, type RoomDelivery } from "./fanout.ts";
import { handleMessage, serially, type ChatContext } from "./handlers.ts";
import { createMemoryHistory } from "./history/memory.ts";
import type { HistoryStore } from "./history/store.ts";
import { handleClose, handleOpen, openPlain } from "./lifecycle.ts";
import { ack, persistSession } from "./membership.ts";
import { MessageLog } from "./message-log.ts";
import { silentLogger, type Logger } from "./log.ts";
import { count, createMetrics, type Metrics } from "./metrics.ts";
import { healthResponse, metricsText } from "./ops.ts";
import { webPageDevelopment, webPageRoutes } from "./web-page.ts";
import { RecentKeys, type KeyMemory } from "./recent-keys.ts";
import { createLocalRooms, type LocalRoomRegistry, type RoomRegistry } from "./rooms.ts";
import { SocketList } from "./socket-list.ts";

/** Direct messages remembered by ref (see ChatContext.directsSent): about 1 MB at most. */
const DIRECTS_REMEMBERED = 10_000;

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
  /** Several nodes as one chat (cluster/): its store, registry and fan-out replace the local ones. */
  backend?: Backend | undefined;
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
  /** Frames per second per connection, sustained; 0 turns the limit off. @default 20 */
  rate: number;
  /** Frames a connection may send at once. @default 40 */
  burst: number;
  /** Connections from one remote address; 0 for no cap. @default 64 */
  maxConnsPerIp: number;
  /** Connections in total; 0 for no cap. @default 0 */
  maxConnections: number;
  /** Origins allowed to upgrade ("*" for any); empty: no Origin, or the same host. @default [] */
  origins: string[];
  /** With a verifier, every upgrade needs a valid token (401 otherwise). */
  auth?: TokenVerifier | undefined;
  /** Serve wss:// with this certificate and key (PEM text). */
  tls?: { cert: string; key: string } | undefined;
  /** permessage-deflate; off by default (CPU per message, and compression bombs). */
  compress: boolean;
  /** When set, GET /metrics needs `Authorization: Bearer <token>`. */
  metricsToken?: string | undefined;
  log?: Logger;
}

/** What a cluster provides in place of this process's own store, registry and fan-out. */
export interface Backend {
  readonly history: HistoryStore;
  /** The cluster-wide registry, built around this process's own (which holds the sockets). */
  rooms(local: LocalRoomRegistry<ChatSocket>): RoomRegistry<ChatSocket>;
  fanout(local: LocalRoomRegistry<ChatSocket>, deliver: RoomDelivery, metrics: Metrics): Fanout;
  /** Direct messages' refs, seen by every node (see ChatContext.directsSent); this process's own without it. */
  readonly directsSent?: KeyMemory;
  /** "degraded" while the shared store cannot be reached. */
  health(): "ok" | "degraded";
  /** Leaves the cluster (this node's users go as if disconnected) and closes connections. */
  close(): Promise<void>;
}

/** What the server needs of an authenticator (auth.ts provides one for HS256 JWTs). */
export interface TokenVerifier {
  /** The token of an upgrade request, if it carries one. */
  extract(request: Request): string | undefined;
  /** `expiresAtMs`: when the connection must be closed (the token's exp, clock skew included). */
  verify(token: string): Promise<{ ok: true; sub: string; name?: string | undefined; expiresAtMs?: number | undefined } | { ok: false; reason: string }>;
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
  rate: 20,
  burst: 40,
  maxConnsPerIp: 64,
  maxConnections: 0,
  origins: [] as string[],
  compress: false,
} satisfies Partial<ChatServerOptions>;


export function createChatServer(input: Partial<ChatServerOptions> = {}): ChatServer {
  const options = { ...defaultChatServerOptions, ...input };
  const log = options.log ?? silentLogger;
  const metrics = createMetrics();
  const sockets = new SocketList<ChatSocket>();
  const caps = new ConnectionCaps(options.maxConnsPerIp, options.maxConnections);
  const startedAt = performance.now();
  let nextConnId = 1;
  let shuttingDown: Promise<void> | undefined;
  // Assigned right after Bun.serve returns; handlers run only after that.
  let server!: Server<ConnectionData>;

  const history = options.backend?.history ?? options.history ?? createMemoryHistory({ historyLimit: options.historyLimit });
  const local = createLocalRooms<ChatSocket>();
  const rooms = options.backend?.rooms(local) ?? local;
  const bootTime = Date.now();
  // Bun's topics reach this process's sockets; `server` is assigned before any frame arrives.
  const deliver: RoomDelivery = (room, text, except) => deliverHere(room, text, except);
  let deliverHere!: RoomDelivery;
  const fanout = options.backend?.fanout(local, deliver, metrics) ?? createLocalFanout(local, deliver, metrics);
  const messages = new MessageLog<ChatSocket>({
    store: history,
    ack: (ws, ref, room, id) => ack(ctx, ws, ref, { id, room }),
    fail: (ws, ref, code, content) => sendError(ws, { code, content, ref }, metrics),
    publish: (room, text) => fanout.message(room, text),
    onStoreError(error) {
      metrics.historyWriteFailures++;
      log.error("history_write_failed", { message: String(error) });
    },
    onCommitted(messages, seconds) {
      metrics.historyWrites += messages;
      metrics.historyCommits++;
      metrics.historyCommitSeconds += seconds;
      if (seconds > metrics.historyCommitMaxSeconds) metrics.historyCommitMaxSeconds = seconds;
    },
  });
  const ctx: ChatContext = {
    limits: {
      maxContentBytes: options.maxContentBytes,
      maxPayloadBytes: options.maxPayloadBytes,
      maxRoomsPerConnection: options.maxRoomsPerConnection,
      rate: options.rate,
      burst: options.burst,
      backpressureLimit: options.backpressureLimit,
      announceLimit: options.announceLimit,
    },
    welcomeLimitsJson: JSON.stringify({
      maxContentBytes: options.maxContentBytes,
      maxPayloadBytes: options.maxPayloadBytes,
      maxRoomsPerConnection: options.maxRoomsPerConnection,
      rate: options.rate,
      burst: options.burst,
    } satisfies Limits),
    alone: options.backend === undefined && !history.shared ? local : undefined,
    rooms,
    history,
    messages,
    metrics,
    log,
    graceMs: options.graceMs,
    bootTime,
    away: new Map(),
    departures: new Map(),
    heartbeatMs: options.heartbeatSeconds * 1000,
    savedSessions: new Set(),
    directsSent: options.backend?.directsSent ?? new RecentKeys(DIRECTS_REMEMBERED),
    fanout,
  };
  // Sessions stored by an earlier run and not resumed within one grace period are gone.
  const sessionSweep = setTimeout(() => {
    const failed = (error: unknown) => log.error("session_sweep_failed", { message: String(error) });
    // SQLite throws here, Redis rejects later: a timer must not let either end the process.
    try {
      Promise.resolve(history.deleteSessionsBefore(bootTime)).catch(failed);
    } catch (error) {
      failed(error);
    }
  }, options.graceMs);
  sessionSweep.unref();

  const refuse = (refusal: Refusal, remote: string): Response => {
    count(metrics.upgradesRefused, String(refusal.status));
    log.info("upgrade_refused", { status: refusal.status, reason: refusal.reason, remote });
    return refusalResponse(refusal);
  };
  const gauges = () => ({
    connections: sockets.size,
    rooms: rooms.roomCount(),
    users: rooms.userCount(),
    uptimeSeconds: Math.round((performance.now() - startedAt) / 1000),
  });

  function upgrade(
    req: Request,
    srv: Server<ConnectionData>,
    url: URL,
    remote: string,
    auth: { sub: string; name?: string | undefined; expiresAtMs?: number | undefined } | undefined,
  ): Response | undefined {
    const asked = url.search === "" ? undefined : {
      name: url.searchParams.get("name") ?? undefined,
      room: url.searchParams.get("room") ?? undefined,
      session: url.searchParams.get("session") ?? undefined,
    };
    const connectionAuth = auth === undefined ? undefined : { sub: auth.sub, name: auth.name, expiresAt: auth.expiresAtMs, timer: undefined };
    const data: ConnectionData = {
      connId: nextConnId++,
      remote,
      user: PENDING_USER,
      rooms: NO_ROOMS,
      alive: true,
      closing: undefined,
      slot: -1,
      rare: asked === undefined && connectionAuth === undefined ? undefined : newRare(asked, connectionAuth),
    };
    if (req.headers.has(PROBE_HEADER)) return new Response(null, { status: 204 });
    if (srv.upgrade(req, { data })) return undefined;
    return new Response("WebSocket upgrade failed\n", { status: 400 });
  }

  server = Bun.serve({
    port: options.port,
    ...(options.host === undefined ? {} : { hostname: options.host }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    // GET / is the browser page (web-page.ts); upgrades to / still reach fetch below.
    routes: webPageRoutes,
    development: webPageDevelopment,
    // Bun turns SO_REUSEPORT on with `development: false`: a second server on a busy port must fail.
    reusePort: false,
    // Synchronous unless a token must be verified: a promise per upgrade is a
    // measurable share of accepting a connection.
    fetch(req, srv) {
      const url = new URL(req.url);
      if (url.pathname === "/healthz") return healthResponse({ status: shuttingDown ? "shutting_down" : (options.backend?.health() ?? "ok"), ...gauges() });
      if (url.pathname === "/metrics") {
        if (options.metricsToken !== undefined && req.headers.get("authorization") !== `Bearer ${options.metricsToken}`) {
          return new Response("metrics need the metrics token\n", { status: 401 });
        }
        return new Response(metricsText(metrics, gauges()), { headers: { "content-type": "text/plain; version=0.0.4" } });
      }
      if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return new Response("This is a WebSocket chat server: connect with a WebSocket client.\n", {
          status: 426,
          headers: { upgrade: "websocket" },
        });
      }
      const remote = caps.intern(srv.requestIP(req)?.address ?? "unknown");
      if (shuttingDown) return refuse({ status: 503, reason: "server is shutting down" }, remote);
      const refusal = checkOrigin(req, { allowed: options.origins }) ?? caps.check(remote);
      if (refusal !== undefined) return refuse(refusal, remote);
      if (options.auth === undefined) return upgrade(req, srv, url, remote, undefined);

      const auth = options.auth;
      const token = auth.extract(req);
      if (token === undefined) return refuse({ status: 401, reason: "a token is required" }, remote);
      return auth.verify(token).then((verdict) => {
        // The token itself is never logged: only why it was refused.
        if (!verdict.ok) return refuse({ status: 401, reason: `bad token: ${verdict.reason}` }, remote);
        // Again: upgrades from one address waiting for their tokens all passed the
        // check above before any of them was counted.
        const full = shuttingDown ? { status: 503 as const, reason: "server is shutting down" } : caps.check(remote);
        return full === undefined ? upgrade(req, srv, url, remote, verdict) : refuse(full, remote);
      });
    },
    websocket: {
      maxPayloadLength: options.maxPayloadBytes,
      backpressureLimit: options.backpressureLimit,
      // Bun would close a slow reader silently; we cut it off ourselves so it is counted.
      closeOnBackpressureLimit: false,
      // The heartbeat below pings; Bun's idle timeout is only the backstop.
      sendPings: false,
      idleTimeout: Math.min(960, Math.ceil(options.heartbeatSeconds * 2) + 10),
      perMessageDeflate: options.compress,
      open(ws) {
        sockets.add(ws);
        caps.opened(ws.data.remote);
        const auth = ws.data.rare?.auth;
        if (auth?.expiresAt !== undefined) watchExpiry(ws, auth);
        if (openPlain(ctx, ws)) return;
        serially(ctx, ws, () => drive(handleOpen(ctx, ws)), () => {
          // Without its user the connection is useless: the client reconnects later.
          ws.data.closing = "unavailable";
          ws.close(CloseCode.tryAgainLater, "the shared store is unreachable; try again");
        });
      },
      message(ws, message) {
        handleMessage(ctx, ws, message);
      },
      pong(ws) {
        ws.data.alive = true;
      },
      close(ws, code, reason) {
        sockets.delete(ws);
        caps.closed(ws.data.remote);
        clearTimeout(ws.data.rare?.auth?.timer);
        serially(ctx, ws, () => drive(handleClose(ctx, ws, code, reason)), () => {});
      },
    },
  });

  deliverHere = createRoomDelivery(server, local, metrics, options.backpressureLimit);

  /** A token's `exp` holds during the connection too: when it passes, the socket is closed with 1008. */
  function watchExpiry(ws: ChatSocket, auth: ConnectionAuth): void {
    const left = (auth.expiresAt ?? 0) - Date.now();
    // setTimeout cannot wait longer than 2^31-1 ms (24.8 days): wait in steps.
    auth.timer = setTimeout(() => {
      if (ws.data.closing !== undefined) return;
      if (Date.now() < (auth.expiresAt ?? 0)) return watchExpiry(ws, auth);
      ws.data.closing = "auth_expired";
      metrics.authExpiredCloses++;
      ws.close(CloseCode.policy, "token expired");
    }, Math.min(Math.max(0, left), 2 ** 31 - 1));
  }

  const heartbeat = setInterval(() => {
    for (const ws of sockets.snapshot()) {
      // Closed on the way (a leave notice can cut off a slow reader): already gone.
      if (ws.data.slot < 0) continue;
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
    const notice = encode({ type: "system", event: "shutdown", content: "Server is shutting down", timestamp: timestamp() });
    const closeAll = () => {
      // Everyone may come back to the next run of this server within the grace period.
      const all = sockets.snapshot();
      for (const ws of all) persistSession(ctx, ws.data.user, ws.data.rooms, true);
      for (const ws of all) {
        if (ws.data.slot < 0) continue; // closed on the way
        // One socket's failure must not keep the notice and the close from the rest.
        try {
          ws.data.closing = "shutdown";
          sendText(ws, notice, metrics, "system");
          ws.close(CloseCode.goingAway, "server shutting down");
        } catch (error) {
          log.error("shutdown_close_failed", { conn: ws.data.connId, message: String(error) });
        }
      }
    };
    // Bun runs each close handler inside close(), so every socket is gone after closeAll;
    // the sessions they save are written together at the end of the turn (sqlite.ts).
    try {
      closeAll();
    } catch (error) {
      log.error("session_store_failed", { message: String(error) });
    }
    await Bun.sleep(options.shutdownLingerMs);
    await server.stop(true);
    for (const { timer } of ctx.away.values()) clearTimeout(timer);
    if (options.backend === undefined) history.close();
    else await options.backend.close();
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
