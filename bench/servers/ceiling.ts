// The ceiling: the least a Bun chat server can do. One topic per room, every text
// frame published raw to it (sender included, as ours does), no parsing, no envelope,
// no presence. Whatever ours costs on top of this is the price of its features.
//
//   bun bench/servers/ceiling.ts --port 0 [--host 127.0.0.1]
import { parseArgs } from "node:util";

const DEFAULT_ROOM = "lobby";
const ROOM_PATTERN = /^[a-z0-9_-]{1,64}$/;

interface SocketData {
  room: string;
}

function readFlags(argv: string[]): { port: number; host: string } {
  const { values } = parseArgs({
    args: argv,
    options: { port: { type: "string", default: "0" }, host: { type: "string", default: "127.0.0.1" } },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port must be a whole number from 0 to 65535 (got '${values.port}')`);
    process.exit(2);
  }
  return { port, host: values.host };
}

const { port, host } = readFlags(process.argv.slice(2));

const server = Bun.serve<SocketData>({
  port,
  hostname: host,
  fetch(request, srv) {
    // Honour ?room= like ours will, so the many-rooms scenario is comparable.
    const room = new URL(request.url).searchParams.get("room") ?? DEFAULT_ROOM;
    if (!ROOM_PATTERN.test(room)) return new Response("bad room", { status: 400 });
    if (srv.upgrade(request, { data: { room } })) return undefined;
    return new Response("WebSocket only", { status: 426 });
  },
  websocket: {
    open(ws) {
      ws.subscribe(ws.data.room);
    },
    message(ws, message) {
      // server.publish (not ws.publish) so the sender gets its own copy, like ours.
      server.publish(ws.data.room, message);
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
