// The ceiling: the least a Bun chat server can do. One topic per room, every text
// frame published raw to it (sender included, as ours does), no parsing, no envelope,
// no presence. Whatever ours costs on top of this is the price of its features.
//
// With --envelope it is the protocol's floor instead: the same server, but each text
// goes out wrapped in the message frame PROTOCOL.md asks for (per-room id, userId,
// name, content, timestamp), as ours sends it, byte for byte in shape and size. It
// validates nothing, stores nothing and limits nothing: what it loses against the
// ceiling is what the frame alone costs, which no protocol-conforming server avoids.
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
  return `{"type":"message","id":${id},"room":"${room}","userId":"${userId}","name":"${userId}","content":${JSON.stringify(text)},"timestamp":"${timestamp()}"}`;
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
      ws.subscribe(ws.data.room);
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
