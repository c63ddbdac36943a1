// Entry point: read flags and env, start the chat server, print the listening line,
// shut down cleanly on SIGINT/SIGTERM.
import { readFileSync } from "node:fs";
import { ConfigError, helpText, parseServerArgs, serverOptions } from "./config.ts";
import { createTokenVerifier, extractToken, tokenDeadlineMs } from "./server/auth.ts";
import { createChatServer, type ChatServer, type TokenVerifier } from "./server/chat-server.ts";
import { createMemoryHistory } from "./server/history/memory.ts";
import { createSqliteHistory } from "./server/history/sqlite.ts";
import type { HistoryStore } from "./server/history/store.ts";
import { createLogger } from "./server/log.ts";

const USAGE = "Usage: bun run src/server.ts [options]";

function main(): void {
  let options;
  try {
    options = parseServerArgs(Bun.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`error: ${error.message}`);
    process.exit(2);
  }
  if (options.help) {
    console.log(helpText(USAGE, serverOptions));
    return;
  }

  const log = createLogger({ level: options["log-level"], format: options["log-format"] });
  const historyOptions = { historyLimit: options["history-limit"] };
  let history: HistoryStore;
  try {
    history = options.db === ":memory:" ? createMemoryHistory(historyOptions) : createSqliteHistory(options.db, historyOptions);
  } catch (error) {
    console.error(`error: cannot open the history database ${options.db}: ${(error as Error).message}`);
    process.exit(1);
  }
  let tls: { cert: string; key: string } | undefined;
  if (options["tls-cert"] !== undefined && options["tls-key"] !== undefined) {
    try {
      tls = { cert: readFileSync(options["tls-cert"], "utf8"), key: readFileSync(options["tls-key"], "utf8") };
    } catch (error) {
      console.error(`error: cannot read --tls-cert/--tls-key: ${(error as Error).message}`);
      process.exit(2);
    }
  }
  let chat: ChatServer;
  try {
    chat = createChatServer({
      port: options.port,
      host: options.host,
      maxContentBytes: options["max-content"],
      maxPayloadBytes: options["max-payload"],
      backpressureLimit: options["backpressure-limit"],
      maxRoomsPerConnection: options["max-rooms"],
      announceLimit: options["announce-limit"],
      history,
      graceMs: options.grace * 1000,
      rate: options.rate,
      burst: options.burst,
      maxConnsPerIp: options["max-conns-per-ip"],
      maxConnections: options["max-connections"],
      origins: options.origins,
      auth: options["auth-secret"] === undefined ? undefined : tokenAuth(options["auth-secret"]),
      tls,
      compress: options.compress,
      metricsToken: options["metrics-token"],
      heartbeatSeconds: options.heartbeat,
      shutdownLingerMs: options["shutdown-linger"] * 1000,
      log,
    });
  } catch (error) {
    const code = (error as { code?: string }).code;
    const where = `${options.host ?? "all interfaces"} port ${options.port}`;
    if (code === "EADDRINUSE") console.error(`error: cannot listen on ${where}: the port is already in use`);
    else console.error(`error: cannot listen on ${where}: ${(error as Error).message}`);
    process.exit(1);
  }

  let signalled = false;
  const stop = (signal: string) => {
    if (signalled) process.exit(1); // a second Ctrl+C means "now"
    signalled = true;
    log.info("shutdown", { signal, connections: chat.connectionCount() });
    chat.shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error("shutdown_failed", { message: String(error) });
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));

  // The original example's line, kept word for word: scripts and people wait for it.
  // Printed after the signal handlers exist, so a SIGTERM right after it is handled.
  console.log(`WebSocket server is listening on port ${chat.port}`);
}

/** HS256 JWTs (auth.ts) as the chat server's TokenVerifier. */
function tokenAuth(secret: string): TokenVerifier {
  const verifier = createTokenVerifier(secret);
  return {
    extract: extractToken,
    async verify(token) {
      const verdict = await verifier.verify(token);
      if (!verdict.ok) return verdict;
      return { ok: true, sub: verdict.sub, name: verdict.name, expiresAtMs: verdict.exp === undefined ? undefined : tokenDeadlineMs(verdict.exp) };
    },
  };
}

main();
