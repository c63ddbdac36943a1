// What operators read: GET /healthz (JSON) and GET /metrics (Prometheus text format).
import type { Metrics } from "./metrics.ts";

export interface HealthState {
  status: "ok" | "degraded" | "shutting_down";
  connections: number;
  rooms: number;
  users: number;
  uptimeSeconds: number;
}

export function healthResponse(state: HealthState): Response {
  return Response.json(state, { status: state.status === "ok" ? 200 : 503, headers: { "cache-control": "no-store" } });
}

export interface Gauges {
  connections: number;
  rooms: number;
  users: number;
  uptimeSeconds: number;
}

/** Renders the counters in the Prometheus text exposition format (version 0.0.4). */
export function metricsText(m: Metrics, g: Gauges): string {
  const lines: string[] = [];
  const metric = (name: string, type: "counter" | "gauge", help: string, samples: Array<[Record<string, string>, number]>) => {
    lines.push(`# HELP chat_${name} ${help}`, `# TYPE chat_${name} ${type}`);
    for (const [labels, value] of samples) {
      const text = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, "_")}"`).join(",");
      lines.push(`chat_${name}${text ? `{${text}}` : ""} ${Number.isFinite(value) ? value : 0}`);
    }
  };
  const by = (table: Record<string, number>, label: string) =>
    Object.entries(table).map(([key, value]): [Record<string, string>, number] => [{ [label]: key }, value]);
  const memory = process.memoryUsage();

  metric("connections", "gauge", "Open WebSocket connections.", [[{}, g.connections]]);
  metric("rooms", "gauge", "Rooms with at least one user.", [[{}, g.rooms]]);
  metric("users", "gauge", "Users present, including those in their grace period.", [[{}, g.users]]);
  metric("uptime_seconds", "gauge", "Seconds since the server started.", [[{}, g.uptimeSeconds]]);
  metric("connections_opened_total", "counter", "Connections accepted.", [[{}, m.connectionsOpened]]);
  metric("connections_closed_total", "counter", "Connections closed, for any reason.", [[{}, m.connectionsClosed]]);
  metric("upgrades_refused_total", "counter", "Upgrade requests refused, by HTTP status.", by(m.upgradesRefused, "status"));
  metric("frames_in_total", "counter", "Frames received, by type.", by(m.framesIn, "type"));
  metric("frames_out_total", "counter", "Frames sent to a socket or published once to a room, by type.", by(m.framesOut, "type"));
  metric("deliveries_total", "counter", "Frames that reached a socket (a publish to N subscribers counts N).", [[{}, m.deliveries]]);
  metric("delivered_bytes_total", "counter", "Characters in those deliveries.", [[{}, m.bytesOut]]);
  metric("errors_total", "counter", "Error frames sent, by code.", by(m.errorsByCode as Record<string, number>, "code"));
  metric("rate_limited_total", "counter", "Frames refused by the rate limit.", [[{}, m.rateLimited]]);
  metric("server_closes_total", "counter", "Connections the server closed, by cause.", [
    [{ cause: "slow_reader" }, m.slowReaderCloses],
    [{ cause: "heartbeat" }, m.heartbeatCloses],
    [{ cause: "oversize" }, m.oversizeCloses],
    [{ cause: "flood" }, m.floodCloses],
    [{ cause: "auth_expired" }, m.authExpiredCloses],
  ]);
  metric("history_writes_total", "counter", "Messages stored.", [[{}, m.historyWrites]]);
  metric("history_write_failures_total", "counter", "Batches the history store refused.", [[{}, m.historyWriteFailures]]);
  metric("history_commits_total", "counter", "Transactions (one per event-loop turn with messages).", [[{}, m.historyCommits]]);
  metric("history_commit_seconds_sum", "counter", "Time spent committing.", [[{}, m.historyCommitSeconds]]);
  metric("history_commit_seconds_max", "gauge", "Longest commit so far.", [[{}, m.historyCommitMaxSeconds]]);
  metric("resumes_total", "counter", "Connections that resumed a session.", [[{}, m.resumes]]);
  metric("replays_total", "counter", "Joins that replayed history after an id.", [[{}, m.replays]]);
  metric("replay_gaps_total", "counter", "Replays that could not send everything.", [[{}, m.gaps]]);
  metric("process_resident_memory_bytes", "gauge", "Resident set size.", [[{}, memory.rss]]);
  metric("process_heap_used_bytes", "gauge", "JavaScript heap in use.", [[{}, memory.heapUsed]]);
  return `${lines.join("\n")}\n`;
}
