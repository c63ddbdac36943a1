// Scenario 2, latency at a fixed offered load: an open loop sends on a timetable
// whatever the server does, so a slow server shows up as latency and loss instead of
// quietly lowering the load it is offered. The measurement itself (measureLatency)
// is also the cluster scenario's second phase.
import { summarizeLatencies } from "../lib/stats.ts";
import {
  connectOneRoom,
  cpuFigures,
  figure,
  latencyFigures,
  lostCount,
  sendLagP99Ms,
  withCpuWindow,
  type Figure,
  type Scenario,
  type ScenarioContext,
  type ScenarioOutcome,
} from "./scenario.ts";
import type { LatencySummary } from "../lib/stats.ts";
import type { CpuWindow } from "./scenario.ts";

/** How long after the last send a delivery may still arrive before it counts as lost. */
const DRAIN_TIMEOUT_MS = 5_000;

export interface LatencyMeasured {
  latency: LatencySummary | undefined;
  deliveriesPerSecond: number;
  sent: number;
  lost: number;
  sendLagP99Ms: number | null;
  cpu: CpuWindow;
}

export function latencyLoadFigures(m: LatencyMeasured | undefined): Figure[] {
  return [
    ...latencyFigures("", m?.latency),
    figure("lost", "never arrived", "", m?.lost ?? null, "lower"),
    figure("sent", "messages sent", "", m?.sent ?? null),
    figure("deliveriesPerSecond", "deliveries/s", "/s", m?.deliveriesPerSecond ?? null, "higher"),
    figure("sendLagP99Ms", "generator send lag p99", "ms", m?.sendLagP99Ms ?? null, "lower"),
    ...cpuFigures("", m?.cpu),
  ];
}

export const latencyScenario: Scenario = {
  name: "latency",
  describe: (o) => `open loop, ${o.rate} msgs/s offered across ${o.clients} clients in one room, ${o.seconds} s`,
  mainFigure: "p99Ms",

  async run(context: ScenarioContext): Promise<ScenarioOutcome> {
    const connected = await connectOneRoom(context);
    if (connected.note !== undefined) return { figures: latencyLoadFigures(undefined), notes: [connected.note] };
    const { measured, notes } = await measureLatency(context);
    return { figures: latencyLoadFigures(measured), notes };
  },
};

/** The open loop for options.seconds, on options.clients clients already connected to one room and quiet. */
export async function measureLatency(context: ScenarioContext): Promise<{ measured: LatencyMeasured; notes: string[] }> {
  const { generator, options } = context;
  await generator.reset(true);
  const { result, cpu } = await withCpuWindow(context, async () => {
    const started = performance.now();
    const load = await generator.openLoop(options.rate, options.seconds);
    const counts = await generator.waitForDeliveries(load.sent * options.clients, DRAIN_TIMEOUT_MS);
    return { load, counts, wallMs: performance.now() - started };
  });

  const { load, counts } = result;
  return {
    measured: {
      latency: summarizeLatencies(await generator.latencies()),
      deliveriesPerSecond: counts.deliveries / (result.wallMs / 1000),
      sent: load.sent,
      lost: lostCount(load.sent * options.clients, counts.deliveries),
      sendLagP99Ms: sendLagP99Ms(load.lagUs),
      cpu,
    },
    notes: counts.dropped > 0 ? [`${counts.dropped} connections dropped during the run`] : [],
  };
}
