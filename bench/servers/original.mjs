// The original: the example this project grew out of, kept as the "before" figure.
// A Node.js server on the `ws` package that wraps every message in a JSON envelope
// and loops over all clients in JavaScript, with join/leave notices for everyone.
// Deliberately unoptimised: it is what we are measuring against, not a design.
//
//   node bench/servers/original.mjs --port 0 [--host 127.0.0.1]
import { parseArgs } from "node:util";
import { WebSocketServer, WebSocket } from "ws";

function readFlags(argv) {
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

function randomUserId() {
  return `User-${Math.random().toString(36).slice(2, 7).padEnd(5, "0")}`;
}

const { port, host } = readFlags(process.argv.slice(2));
const wss = new WebSocketServer({ port, host });

function broadcast(frame) {
  const json = JSON.stringify(frame);
  wss.clients.forEach((client) => {
    if (client.readyState === WebSocket.OPEN) client.send(json);
  });
}

function systemNotice(content) {
  broadcast({ type: "system", content, timestamp: new Date().toISOString() });
}

wss.on("connection", (ws) => {
  const userId = randomUserId();
  systemNotice(`${userId} joined the chat`);

  ws.on("message", (data) => {
    broadcast({ type: "message", userId, content: data.toString(), timestamp: new Date().toISOString() });
  });

  ws.on("close", () => {
    systemNotice(`${userId} left the chat`);
  });
});

wss.on("listening", () => {
  console.log(`WebSocket server is listening on port ${wss.address().port}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => process.exit(0));
}
