// From parsed options to a running chat server: join the cluster (--redis) or open
// the history store, read TLS files, wire authentication. Each failure is a StartupError carrying the exit code
// the entry point should use (2 for a bad option, 1 for a failure to start).
import { readFileSync } from "node:fs";
import type { ServerOptions } from "../config.ts";
import { createTokenVerifier, extractToken, tokenDeadlineMs } from "./auth.ts";
import { createChatServer, type ChatServer, type TokenVerifier } from "./chat-server.ts";
import { openCluster, type Cluster } from "./cluster/cluster.ts";
import { createMemoryHistory } from "./history/memory.ts";
import { createSqliteHistory } from "./history/sqlite.ts";
import type { HistoryStore } from "./history/store.ts";
import type { Logger } from "./log.ts";

export class StartupError extends Error {
  override name = "StartupError";
  constructor(message: string, readonly exitCode: 1 | 2) {
    super(message);
  }
}

export async function startChatServer(options: ServerOptions, log: Logger): Promise<ChatServer> {
  const backend = options.redis === undefined ? undefined : await joinCluster(options, options.redis, log);
  const history = backend?.history ?? openHistory(options, log);
  const where = `${options.host ?? "all interfaces"} port ${options.port}`;
  try {
    return createChatServer({
      port: options.port,
      host: options.host,
      maxContentBytes: options["max-content"],
      maxPayloadBytes: options["max-payload"],
      backpressureLimit: options["backpressure-limit"],
      maxRoomsPerConnection: options["max-rooms"],
      announceLimit: options["announce-limit"],
      history,
      backend,
      graceMs: options.grace * 1000,
      rate: options.rate,
      burst: options.burst,
      maxConnsPerIp: options["max-conns-per-ip"],
      maxConnections: options["max-connections"],
      origins: options.origins,
      auth: options["auth-secret"] === undefined ? undefined : tokenAuth(options["auth-secret"]),
      tls: readTls(options),
      compress: options.compress,
      metricsToken: options["metrics-token"],
      heartbeatSeconds: options.heartbeat,
      shutdownLingerMs: options["shutdown-linger"] * 1000,
      log,
    });
  } catch (error) {
    history.close();
    await backend?.close();
    if (error instanceof StartupError) throw error;
    const code = (error as { code?: string }).code;
    const why = code === "EADDRINUSE" ? "the port is already in use" : (error as Error).message;
    throw new StartupError(`cannot listen on ${where}: ${why}`, 1);
  }
}

/** With --redis: this process becomes one node of the cluster on that Redis. */
async function joinCluster(options: ServerOptions, url: string, log: Logger): Promise<Cluster> {
  try {
    return await openCluster({ url, historyLimit: options["history-limit"], graceMs: options.grace * 1000, announceLimit: options["announce-limit"], log });
  } catch (error) {
    throw new StartupError((error as Error).message, 1);
  }
}

function openHistory(options: ServerOptions, log: Logger): HistoryStore {
  const historyOptions = { historyLimit: options["history-limit"], warn: (event: string, fields: Record<string, string | number>) => log.warn(event, fields) };
  if (options.db === ":memory:") return createMemoryHistory(historyOptions);
  try {
    return createSqliteHistory(options.db, historyOptions);
  } catch (error) {
    throw new StartupError(`cannot open the history database ${options.db}: ${(error as Error).message}`, 1);
  }
}

function readTls(options: ServerOptions): { cert: string; key: string } | undefined {
  const certFile = options["tls-cert"];
  const keyFile = options["tls-key"];
  if (certFile === undefined || keyFile === undefined) return undefined;
  try {
    return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
  } catch (error) {
    throw new StartupError(`cannot read --tls-cert/--tls-key: ${(error as Error).message}`, 2);
  }
}

/** HS256 JWTs (auth.ts) as the chat server's TokenVerifier. */
function tokenAuth(secret: string): TokenVerifier {
  const verifier = createTokenVerifier(secret);
  return {
    extract: extractToken,
    async verify(token) {
      const verdict = await verifier.verify(token);
      if (!verdict.ok) return verdict;
      const expiresAtMs = verdict.exp === undefined ? undefined : tokenDeadlineMs(verdict.exp);
      return { ok: true, sub: verdict.sub, name: verdict.name, expiresAtMs };
    },
  };
}
