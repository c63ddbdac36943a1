// Scenario 6, one client floods: the latency scenario's open-loop load measured twice
// on one server process, first quiet, then while one more client in the same room
// sends small frames as fast as its socket takes them. The issue asks that the other
// clients' latency not move while one floods; flooded p99 / quiet p99 is that, in one
// number. Ours runs with its rate limit in force (FLOOD_LIMITS), the baselines have
// none and take the whole flood: that difference is what the table shows.
import { WorkerAgent } from "../lib/worker-agent.ts";
import type { FloodResult } from "../lib/flooder.ts";
import { nowUs } from "../lib/marker.ts";
import type { BenchOptions } from "../lib/options.ts";
import { FLOOD_LIMITS } from "../lib/servers.ts";
import { summarizeLatencies, type LatencySummary } from "../lib/stats.ts";
import {
  connectLayout,
  cpuFigures,
  figure,
  latencyFigures,
  lostCount,
  sendLagP99Ms,
  SETTLE_QUIET_MS,
  withCpuWindow,
  type CpuWindow,
  type Figure,
  type Scenario,
  type ScenarioContext,
  type ScenarioOutcome,
} from "./scenario.ts";

const CONNECT_TIMEOUT_MS = 30_000;
/** How long after the last send a delivery may still arrive before it counts as lost. */
const DRAIN_TIMEOUT_MS = 5_000;
/** Past either, the generator, not the server, may be what the flooded latency measures. */
const SATURATED_PERCENT = 90;
const SATURATED_LAG_MS = 10;
/** Lets the flooder process get its start request before the common start time. */
const START_LEAD_US = 100_000;
/** A flooder the server closes comes back this many times in the same phase. */
const RECONNECTS = 1;

interface Phase {
  latency: LatencySummary | undefined;
  sent: number;
  lost: number;
  sendLagP99Ms: number | null;
  cpu: CpuWindow;
  dropped: number;
}

interface Flood {
  result: FloodResult;
  /** The flooder process's CPU over the flooded phase, % of one core. */
  cpuPercent: number;
}

function phaseFigures(prefix: "quiet" | "flooded", p: Phase | undefined): Figure[] {
  const label = `${prefix}: `;
  const key = (name: string) => `${prefix}${name.charAt(0).toUpperCase()}${name.slice(1)}`;
  return [
    ...latencyFigures(prefix, p?.latency, label).map((f) => ({ ...f, key: key(f.key.slice(prefix.length)) })),
    figure(key("lost"), `${label}never arrived`, "", p?.lost ?? null, "lower"),
    figure(key("sent"), `${label}messages sent`, "", p?.sent ?? null),
    figure(key("sendLagP99Ms"), `${label}generator send lag p99`, "ms", p?.sendLagP99Ms ?? null, "lower"),
    ...cpuFigures(prefix, p?.cpu, label)
      .filter((f) => !f.key.endsWith("generatorCpuPercent"))
      .map((f) => ({ ...f, key: key(f.key.slice(prefix.length)) })),
  ];
}

function figures(quiet: Phase | undefined, flooded: Phase | undefined, flood: Flood | undefined): Figure[] {
  const q = quiet?.latency?.p99Ms;
  const f = flooded?.latency?.p99Ms;
  const firstClose = flood?.result.closes[0];
  return [
    ...phaseFigures("quiet", quiet),
    ...phaseFigures("flooded", flooded),
    figure("p99Ratio", "p99 flooded / quiet", "x", q !== undefined && f !== undefined && q > 0 ? f / q : null, "lower"),
    figure("floodSent", "flood frames sent (taken by the kernel)", "", flood?.result.sent ?? null),
    figure("floodRefused", "flood frames refused (rate_limited replies)", "", flood?.result.refused ?? null),
    figure("floodCloses", "flooder closed by the server", "", flood?.result.closes.length ?? null),
    figure("floodFirstCloseMs", "flooder first closed after", "ms", firstClose?.atMs ?? null),
    figure("floodingSeconds", "flooder connected and sending", "s", flood === undefined ? null : flood.result.floodingMs / 1000),
    figure("flooderCpuPercent", "flooder CPU", "% core", flood?.cpuPercent ?? null),
  ];
}

function describe(o: BenchOptions): string {
  const perClient = o.rate / o.clients;
  return (
    `the latency load (${o.rate} msgs/s open loop across ${o.clients} clients in one room, ${o.seconds} s) measured ` +
    `twice on one server: quiet, then while one more client in the room floods small text frames as fast as its ` +
    `socket takes them (own process; reconnects ${RECONNECTS === 1 ? "once" : `${RECONNECTS} times`} if closed). ` +
    `Ours runs with its rate limit on, --rate ${FLOOD_LIMITS.rate} --burst ${FLOOD_LIMITS.burst} for every connection ` +
    `(not its default 20/s, which would refuse the well-behaved clients' ${formatRate(perClient)}/s each); ` +
    `the ceiling and the original have no limit and take the whole flood`
  );
}

function formatRate(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

export const floodScenario: Scenario = {
  name: "flood",
  describe,
  mainFigure: "floodedP99Ms",
  ownRateLimit: true,

  async run(context: ScenarioContext): Promise<ScenarioOutcome> {
    const { generator, server, options } = context;
    const connected = await connectLayout(context, { totalClients: options.clients, roomSize: 0 }, CONNECT_TIMEOUT_MS);
    if (connected.note !== undefined) return { figures: figures(undefined, undefined, undefined), notes: [connected.note] };

    // The flooder joins before the quiet phase, idle, so both phases have the same room.
    const flooder = new WorkerAgent();
    try {
      const refused = await flooder.request({ op: "flood-connect", url: server.url, timeoutMs: CONNECT_TIMEOUT_MS });
      if (refused !== null) {
        return { figures: figures(undefined, undefined, undefined), notes: [`the flooder could not connect: ${refused}`] };
      }
      await generator.settle(SETTLE_QUIET_MS, 10_000);

      const quiet = await measurePhase(context, undefined);
      const flooded = await measurePhase(context, flooder);
      const notes = [
        ...limitNotes(context),
        ...floodNotes(flooded.flood?.result, options.seconds),
        ...saturationNotes(flooded.phase),
      ];
      const dropped = flooded.phase.dropped;
      if (dropped > 0) notes.push(`${dropped} well-behaved connections dropped during the run`);
      return { figures: figures(quiet.phase, flooded.phase, flooded.flood), notes };
    } finally {
      await Promise.race([flooder.request({ op: "close" }), Bun.sleep(1000)]).catch(() => {});
      flooder.dispose();
    }
  },
};

/** One open-loop phase; with a flooder, it floods over exactly the same window. */
async function measurePhase(
  context: ScenarioContext,
  flooder: WorkerAgent | undefined,
): Promise<{ phase: Phase; flood: Flood | undefined }> {
  const { generator, options } = context;
  await generator.reset(true);
  const { result, cpu } = await withCpuWindow(context, async () => {
    // Quiet, the open loop starts as in the latency scenario; flooded, both start together.
    const startUs = nowUs() + START_LEAD_US;
    const flooderCpuBefore = flooder === undefined ? undefined : await flooder.request({ op: "cpu" });
    const flooding = flooder?.request({ op: "flood", plan: { startUs, seconds: options.seconds, reconnects: RECONNECTS } });
    const load = await generator.openLoop(options.rate, options.seconds, flooder === undefined ? undefined : startUs);
    const floodResult = await flooding;
    let flood: Flood | undefined;
    if (flooder !== undefined && floodResult !== undefined && flooderCpuBefore !== undefined) {
      const after = await flooder.request({ op: "cpu" });
      const cpuSeconds = (after.user + after.system - flooderCpuBefore.user - flooderCpuBefore.system) / 1e6;
      const wallSeconds = Math.max(1e-9, (nowUs() - startUs) / 1e6);
      flood = { result: floodResult, cpuPercent: (cpuSeconds / wallSeconds) * 100 };
    }
    const counts = await generator.waitForDeliveries(load.sent * options.clients, DRAIN_TIMEOUT_MS);
    return { load, counts, flood };
  });
  const { load, counts } = result;
  return {
    phase: {
      latency: summarizeLatencies(await generator.latencies()),
      sent: load.sent,
      lost: lostCount(load.sent * options.clients, counts.deliveries),
      sendLagP99Ms: sendLagP99Ms(load.lagUs),
      cpu,
      dropped: counts.dropped,
    },
    flood: result.flood,
  };
}

/** The flood's echoes land on the generator too: say so when it could not keep up. */
function saturationNotes(phase: Phase): string[] {
  const busiest = phase.cpu.generator.busiestPercent;
  const lag = phase.sendLagP99Ms ?? 0;
  if (busiest < SATURATED_PERCENT && lag < SATURATED_LAG_MS) return [];
  return [
    `the generator was saturated while flooded (busiest process ${Math.round(busiest)} % core, send lag p99 ` +
      `${lag.toFixed(1)} ms): every flood frame the server relays reaches every client, so the flooded latency ` +
      "is partly the generator's",
  ];
}

function limitNotes(context: ScenarioContext): string[] {
  const limits = context.server.spec.limitsInForce;
  if (limits === undefined) return [];
  return [`ran with its rate limit on: --rate ${limits.rate} --burst ${limits.burst}`];
}

/** What happened to the flooder, in words: when it was closed, whether it came back, how long the phase ran without it. */
function floodNotes(flood: FloodResult | undefined, seconds: number): string[] {
  if (flood === undefined) return [];
  if (flood.closes.length === 0) return ["the flooder was never closed: it flooded for the whole phase"];
  const parts = flood.closes.map((c, i) => {
    const how = c.code === null ? `dropped (${c.reason})` : `closed with ${c.code}`;
    return `${i === 0 ? "" : "reconnected, "}${how} after ${formatMs(c.atMs)}`;
  });
  if (flood.reconnected >= flood.closes.length) parts.push("reconnected and flooded to the end");
  if (flood.reconnectError !== undefined) parts.push(`reconnecting failed (${flood.reconnectError})`);
  const withoutSeconds = Math.max(0, seconds - flood.floodingMs / 1000);
  return [
    `flooder ${parts.join(", ")}; the phase went on for its full ${seconds} s, ` +
      `${withoutSeconds.toFixed(2)} s of it with no flooder`,
  ];
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}
