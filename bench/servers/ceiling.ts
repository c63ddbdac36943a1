// The ceiling: the least a Bun chat server can do. One topic per room, every text
// frame published raw to it (sender included, as ours does), no parsing, no envelope,
// no presence. Whatever ours costs on top of this is the price of its features.
//
// With --envelope it is the protocol's floor instead: the same server, but sending the
// frames PROTOCOL.md asks for, as ours sends them, byte for byte in shape and size:
// each text goes out wrapped in the message frame (per-room id, userId, name, content,
// timestamp), and each connection gets what connecting means there: a welcome (userId,
// name, rooms, a new session secret, limits), one history frame with the room's last
// 50 messages, and a join notice to the room while it is no bigger than ours'
// announce limit. It validates nothing, stores nothing durably and limits nothing:
// what it loses against the ceiling is what the frames alone cost, which no
// protocol-conforming server avoids.
//
//   bun bench/servers/ceiling.ts --port 0 [--host 127.0.0.1] [--envelope]
import { parseArgs } from "node:util";

const DEFAULT_ROOM = "lobby";
const ROOM_PATTERN = /^[a-z0-9_-]{1,64}$/;

interface SocketData {
  room: string;
  /** The userId (and default name) the envelope names; unused by the raw ceiling. */
  userId: string;
}

interface Flags {
  port: number;
  host: string;
  envelope: boolean;
}

function readFlags(argv: string[]): Flags {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: "string", default: "0" },
      host: { type: "string", default: "127.0.0.1" },
      envelope: { type: "boolean", default: false },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port must be a whole number from 0 to 65535 (got '${values.port}')`);
    process.exit(2);
  }
  return { port, host: values.host, envelope: values.envelope };
}

const { port, host, envelope } = readFlags(process.argv.slice(2));

let connections = 0;

/** User-XXXXX as ours names users: the same length, unique within this process. */
function nextUserId(): string {
  connections++;
  return `User-${connections.toString(36).padStart(5, "0")}`;
}

const lastIds = new Map<string, number>();
/** Each room's newest HISTORY_SIZE message frames, a ring indexed by id: what a join's history frame replays. */
const recentFrames = new Map<string, string[]>();
const HISTORY_SIZE = 50;
/** Ours' default: rooms bigger than this hear no join notices. */
const ANNOUNCE_LIMIT = 100;
/** What ours announces in its welcome when the bench runs it (limits lifted: bench/lib/servers.ts). */
const WELCOME_LIMITS = JSON.stringify({ maxContentBytes: 4096, maxPayloadBytes: 65536, maxRoomsPerConnection: 100, rate: 1_000_000, burst: 1_000_000 });
const secret = new Uint8Array(18);
let stampMs = -1;
let stamp = "";

/** ISO 8601 with milliseconds, formatted once per millisecond as ours does. */
function timestamp(): string {
  const ms = Date.now();
  if (ms !== stampMs) {
    stampMs = ms;
    stamp = new Date(ms).toISOString();
  }
  return stamp;
}

/** The message frame ours publishes for a plain-text line, in the same field order. */
function messageFrame(room: string, userId: string, text: string): string {
  const id = (lastIds.get(room) ?? 0) + 1;
  lastIds.set(room, id);
  const frame = `{"type":"message","id":${id},"room":"${room}","userId":"${userId}","name":"${userId}","content":${JSON.stringify(text)},"timestamp":"${timestamp()}"}`;
  let ring = recentFrames.get(room);
  if (ring === undefined) recentFrames.set(room, (ring = []));
  ring[id % HISTORY_SIZE] = frame;
  return frame;
}

/** Ours' welcome for a new connection: same fields, same order; the session is its userId, a dot and 18 random bytes. */
function welcomeFrame(room: string, userId: string): string {
  crypto.getRandomValues(secret);
  const session = `${userId}.${Buffer.from(secret.buffer).toString("base64url")}`;
  return `{"type":"system","event":"welcome","content":"Welcome, ${userId}! You are in #${room}.","userId":"${userId}","name":"${userId}","rooms":["${room}"],"session":"${session}","limits":${WELCOME_LIMITS},"timestamp":"${timestamp()}"}`;
}

/** The room's last HISTORY_SIZE messages in id order, as ours' history frame for a join. */
function historyFrame(room: string): string {
  const last = lastIds.get(room) ?? 0;
  const ring = recentFrames.get(room);
  const messages: string[] = [];
  for (let id = Math.max(1, last - HISTORY_SIZE + 1); id <= last; id++) messages.push(ring![id % HISTORY_SIZE]!);
  return `{"type":"history","room":"${room}","messages":[${messages.join(",")}],"complete":${last <= HISTORY_SIZE},"timestamp":"${timestamp()}"}`;
}

function joinNotice(room: string, userId: string): string {
  return `{"type":"system","event":"join","room":"${room}","userId":"${userId}","name":"${userId}","content":"${userId} joined #${room}","timestamp":"${timestamp()}"}`;
}

const server = Bun.serve<SocketData>({
  port,
  hostname: host,
  fetch(request, srv) {
    // Honour ?room= like ours will, so the many-rooms scenario is comparable.
    const room = new URL(request.url).searchParams.get("room") ?? DEFAULT_ROOM;
    if (!ROOM_PATTERN.test(room)) return new Response("bad room", { status: 400 });
    if (srv.upgrade(request, { data: { room, userId: envelope ? nextUserId() : "" } })) return undefined;
    return new Response("WebSocket only", { status: 426 });
  },
  websocket: {
    open(ws) {
      const { room, userId } = ws.data;
      if (!envelope) {
        ws.subscribe(room);
        return;
      }
      ws.send(welcomeFrame(room, userId));
      ws.send(historyFrame(room));
      ws.subscribe(room);
      // Ours counts users, the envelope sockets: one per user here.
      if (server.subscriberCount(room) <= ANNOUNCE_LIMIT) ws.publish(room, joinNotice(room, userId));
    },
    message(ws, message) {
      // server.publish (not ws.publish) so the sender gets its own copy, like ours.
      if (!envelope) server.publish(ws.data.room, message);
      else server.publish(ws.data.room, messageFrame(ws.data.room, ws.data.userId, String(message)));
    },
  },
});

console.log(`WebSocket server is listening on port ${server.port}`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    server.stop(true);
    process.exit(0);
  });
}
