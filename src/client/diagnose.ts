// A browser-style WebSocket says only "failed to connect". To tell the user why,
// connect to the same host and port by hand and name what went wrong: the network's
// error, or the HTTP answer the server gave to the upgrade (a 401 for a missing token,
// a 429 or 503 when it refuses connections, with the reason in its body).
import net from "node:net";
import tls from "node:tls";
import { PROBE_HEADER } from "../protocol.ts";

const REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused (is the server running?)",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ECONNRESET: "connection reset by the server",
  ETIMEDOUT: "timed out",
};

export interface ProbeOptions {
  timeoutMs?: number;
  /** Sent as the client sends it, so the server answers as it did. */
  token?: string | undefined;
  insecure?: boolean;
}

export function explainConnectFailure(url: string, options: ProbeOptions = {}): Promise<string> {
  const target = new URL(url);
  const secure = target.protocol === "wss:";
  const port = Number(target.port || (secure ? 443 : 80));
  const host = target.hostname.replace(/^\[|\]$/g, "");
  return new Promise((resolve) => {
    const socket = secure
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, rejectUnauthorized: !options.insecure })
      : net.connect({ host, port });
    let answer = "";
    const done = (reason: string) => {
      socket.destroy();
      resolve(reason);
    };
    socket.setTimeout(options.timeoutMs ?? 2000, () => done(answer === "" ? "timed out" : describeAnswer(answer)));
    socket.once(secure ? "secureConnect" : "connect", () => {
      socket.write([
        `GET ${target.pathname}${target.search} HTTP/1.1`,
        `Host: ${target.host}`,
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        // Our server answers 204 instead of opening a connection nobody would use.
        `${PROBE_HEADER}: 1`,
        ...(options.token === undefined ? [] : [`Authorization: Bearer ${options.token}`]),
        "", "",
      ].join("\r\n"));
    });
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString("utf8");
      // The status line and a short body are all we say; stop reading there (an
      // answer that has no body, 101 or 204, ends with its headers).
      if (answer.length > 600 || /\r\n\r\n[\s\S]*\n/.test(answer) || /^HTTP\/\S+ (101|204) [\s\S]*\r\n\r\n/.test(answer)) done(describeAnswer(answer));
    });
    socket.once("end", () => done(answer === "" ? "the server closed the connection without answering" : describeAnswer(answer)));
    socket.once("error", (error: NodeJS.ErrnoException) => done(REASONS[error.code ?? ""] ?? error.message));
  });
}

/** "HTTP 401 Unauthorized: missing token" from an HTTP answer; anything unexpected said plainly. */
function describeAnswer(answer: string): string {
  const status = /^HTTP\/\d(?:\.\d)? (\d{3})(?: ([^\r\n]*))?/.exec(answer);
  if (status === null) return "the server accepted TCP but did not answer the WebSocket handshake";
  const [, code, text] = status;
  if (code === "101" || code === "204") return "the server accepted the WebSocket handshake on a second try (try again)";
  const body = answer.split("\r\n\r\n")[1]?.trim().split("\n")[0]?.trim().replace(/[^\x20-\x7e]/g, "").slice(0, 200);
  return `the server refused the WebSocket handshake: HTTP ${code}${text ? ` ${text}` : ""}${body ? `: ${body}` : ""}`;
}
