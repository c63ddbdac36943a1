// Counters the server keeps about itself, as plain numbers on one object: bumping one
// is as cheap as the hot path allows. /healthz and /metrics (ops.ts) read them.
import type { ErrorCode } from "../protocol.ts";

export interface Metrics {
  connectionsOpened: number;
  connectionsClosed: number;
  /** Client frames received, by type ("invalid" for those that did not parse, "binary"). */
  framesIn: Record<string, number>;
  /** Frames sent to one socket or published once to a room, by type. */
  framesOut: Record<string, number>;
  /** Frames that reached a socket: a publish to a room of N counts N. */
  deliveries: number;
  /** Bytes of those deliveries (UTF-16 length of the text, which is the byte count for ASCII). */
  bytesOut: number;
  errorsByCode: Partial<Record<ErrorCode, number>>;
  rateLimited: number;
  /** Connections closed by the server, by cause. */
  slowReaderCloses: number;
  heartbeatCloses: number;
  oversizeCloses: number;
  floodCloses: number;
  authExpiredCloses: number;
  /** Upgrades refused over HTTP, by status (401, 403, 429, 503). */
  upgradesRefused: Record<string, number>;
  historyWrites: number;
  historyCommits: number;
  historyCommitSeconds: number;
  historyCommitMaxSeconds: number;
  historyWriteFailures: number;
  /** Connections that came back as an existing user through its session. */
  resumes: number;
  /** Joins with `since` (replays), and those that could not replay everything. */
  replays: number;
  gaps: number;
}

export function createMetrics(): Metrics {
  return {
    connectionsOpened: 0,
    connectionsClosed: 0,
    framesIn: {},
    framesOut: {},
    deliveries: 0,
    bytesOut: 0,
    errorsByCode: {},
    rateLimited: 0,
    slowReaderCloses: 0,
    heartbeatCloses: 0,
    oversizeCloses: 0,
    floodCloses: 0,
    authExpiredCloses: 0,
    upgradesRefused: {},
    historyWrites: 0,
    historyCommits: 0,
    historyCommitSeconds: 0,
    historyCommitMaxSeconds: 0,
    historyWriteFailures: 0,
    resumes: 0,
    replays: 0,
    gaps: 0,
  };
}

export function count(table: Record<string, number>, key: string, by = 1): void {
  table[key] = (table[key] ?? 0) + by;
}
