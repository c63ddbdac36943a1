// A browser-style WebSocket says only "failed to connect". To tell the user why,
// try a plain TCP connection to the same host and port and name what went wrong.
import net from "node:net";

const REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused (is the server running?)",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ECONNRESET: "connection reset by the server",
  ETIMEDOUT: "timed out",
};

export function explainConnectFailure(url: string, timeoutMs = 2000): Promise<string> {
  const target = new URL(url);
  const port = Number(target.port || (target.protocol === "wss:" ? 443 : 80));
  const host = target.hostname.replace(/^\[|\]$/g, "");
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (reason: string) => {
      socket.destroy();
      resolve(reason);
    };
    socket.setTimeout(timeoutMs, () => done("timed out"));
    socket.once("connect", () => done("the server accepted TCP but refused the WebSocket handshake"));
    socket.once("error", (error: NodeJS.ErrnoException) => done(REASONS[error.code ?? ""] ?? error.message));
  });
}
