// What operators see: /healthz, /metrics, and memory over many connect/close cycles.
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cleanup, startServer, TestClient } from "../helpers.ts";

setDefaultTimeout(120_000);
afterEach(cleanup);

const http = (port: number, path: string, headers: Record<string, string> = {}) => fetch(`http://127.0.0.1:${port}${path}`, { headers });

/** A sample of a Prometheus text exposition, e.g. metric(text, "chat_frames_in_total", 'type="message"'). */
function metric(text: string, name: string, labels = ""): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(labels ? `${name}{${labels}} ` : `${name} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

async function rssBytes(pid: number): Promise<number> {
  const status = await Bun.file(`/proc/${pid}/status`).text();
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

describe("health", () => {
  test("/healthz reports status, connections, rooms and uptime, and 503 while shutting down", async () => {
    const server = await startServer(["--shutdown-linger", "1.5"]);
    const client = await TestClient.connect(`${server.url}/?room=health`);
    await client.welcome();
    const ok = await http(server.port, "/healthz");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ status: "ok", connections: 1, rooms: 1, users: 1, uptimeSeconds: expect.any(Number) });
    server.proc.kill("SIGTERM");
    await client.closed;
    const draining = await http(server.port, "/healthz");
    expect(draining.status).toBe(503);
    expect(await draining.json()).toMatchObject({ status: "shutting_down" });
    expect(await server.proc.exited).toBe(0);
  });
});

describe("metrics", () => {
  test("/metrics counts connections, frames, deliveries, errors, limits and history in Prometheus text", async () => {
    const server = await startServer(["--rate", "5", "--burst", "5"]);
    const a = await TestClient.connect(server.url);
    const b = await TestClient.connect(server.url);
    await Promise.all([a.welcome(), b.welcome()]);
    a.send(JSON.stringify({ type: "message", content: "counted", ref: "m1" }));
    await b.next((f) => f.type === "message" && f.content === "counted");
    a.send("{not json");
    await a.next((f) => f.type === "error" && f.code === "bad_json");
    for (let i = 0; i < 10; i++) b.send(`flood ${i}`);
    await b.next((f) => f.type === "error" && f.code === "rate_limited");
    const response = await http(server.port, "/metrics");
    expect(response.headers.get("content-type")).toContain("text/plain");
    const text = await response.text();
    expect(text).toContain("# TYPE chat_connections gauge");
    expect(metric(text, "chat_connections")).toBe(2);
    expect(metric(text, "chat_frames_in_total", 'type="message"')).toBeGreaterThanOrEqual(1);
    expect(metric(text, "chat_frames_in_total", 'type="invalid"')).toBe(1);
    expect(metric(text, "chat_errors_total", 'code="bad_json"')).toBe(1);
    expect(metric(text, "chat_rate_limited_total")).toBeGreaterThanOrEqual(1);
    expect(metric(text, "chat_history_writes_total")).toBeGreaterThanOrEqual(2);
    expect(metric(text, "chat_deliveries_total")).toBeGreaterThanOrEqual(4);
    expect(metric(text, "chat_process_resident_memory_bytes")).toBeGreaterThan(1 << 20);
    for (const line of text.trim().split("\n")) expect(line).toMatch(/^(# (HELP|TYPE) chat_\w+ .+|chat_\w+(\{[a-z_]+="[^"]*"\})? -?[\d.e+]+)$/);
  });

  test("with --metrics-token, /metrics needs the token", async () => {
    const server = await startServer(["--metrics-token", "scrape-me"]);
    expect((await http(server.port, "/metrics")).status).toBe(401);
    expect((await http(server.port, "/metrics", { authorization: "Bearer wrong" })).status).toBe(401);
    expect((await http(server.port, "/metrics", { authorization: "Bearer scrape-me" })).status).toBe(200);
  });
});

describe("soak", () => {
  // One RSS sample depends on where the garbage collector happens to be (the heap
  // swings between 2 and 12 MiB over these cycles, and a sample can sit 10-20 MiB
  // above its neighbours), and the allocator and the JIT keep growing for the first
  // cycles: RSS climbs for about five (65, 69, 70, 74 MiB from the third cycle on, in
  // runs before and after session 10's changes alike) and then stays at 70-76.
  // So: six warm-up cycles, then ten, and the floor of the last three (their lowest)
  // must be within 10% of the median of the first three. A leak raises the floor
  // every cycle and fails this (1 KiB per connection kept: 2 MiB a cycle); a
  // collection that comes late raises one sample only. (With two warm-up cycles the
  // baseline was still climbing, and about one run in four failed without a leak.)
  test("10 cycles of 2,000 connections opened and closed leave resident memory within 10% of the first cycles", async () => {
    const server = await startServer(["--max-conns-per-ip", "0", "--log-level", "warn"]);
    const samples: number[] = [];
    const warmUp = 6;
    for (let cycle = 0; cycle < warmUp + 10; cycle++) {
      const clients: TestClient[] = [];
      for (let batch = 0; batch < 10; batch++) {
        const opened = Array.from({ length: 200 }, () => new TestClient(server.url));
        await Promise.all(opened.map((c) => c.opened));
        clients.push(...opened);
      }
      await Promise.all(clients.map((c) => c.welcome()));
      for (const client of clients) client.close();
      await Promise.all(clients.map((c) => c.closed));
      const health = (await (await http(server.port, "/healthz")).json()) as { connections: number };
      expect(health.connections).toBe(0);
      if (cycle >= warmUp) samples.push(await rssBytes(server.proc.pid));
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const first = median(samples.slice(0, 3));
    const last = Math.min(...samples.slice(-3));
    // Printed so a run shows the curve, not only the verdict.
    console.log(`soak RSS per cycle (MiB): ${samples.map((s) => (s / 2 ** 20).toFixed(1)).join(", ")}`);
    expect(last).toBeLessThanOrEqual(first * 1.1);
  });
});
