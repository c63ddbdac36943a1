// Counters the server keeps about itself. Plain numbers on one object: incrementing
// one is as cheap as the hot path allows; /healthz and /metrics read them later.
import type { ErrorCode } from "../protocol.ts";

export interface Metrics {
  connectionsOpened: number;
  connectionsClosed: number;
  messagesPublished: number;
  framesIn: number;
  errorsByCode: Partial<Record<ErrorCode, number>>;
  slowReaderCloses: number;
  heartbeatCloses: number;
  oversizeCloses: number;
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
    messagesPublished: 0,
    framesIn: 0,
    errorsByCode: {},
    slowReaderCloses: 0,
    heartbeatCloses: 0,
    oversizeCloses: 0,
    resumes: 0,
    replays: 0,
    gaps: 0,
  };
}
