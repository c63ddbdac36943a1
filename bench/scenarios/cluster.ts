// Scenario 7, several nodes on Redis (issue 7): ours as 2 nodes on one Redis against
// 1 node on it, in one run, with ours without --redis (one process, SQLite) as the
// reference for what going through Redis costs. Every column runs the throughput
// scenario's rounds, then the latency scenario's open loop, on the same clients in one
// room, split evenly between the nodes (client i on node i mod n). Each cluster run
// starts its own redis-server on a free port, so no run sees another's ids or history.
import { cluster, singleServer } from "../lib/deployment.ts";
import type { BenchOptions } from "../lib/options.ts";
import { oursSpec } from "../lib/servers.ts";
import { latencyLoadFigures, measureLatency, type LatencyMeasured } from "./latency.ts";
import {
  connectOneRoom,
  figure,
  type Figure,
  type Scenario,
  type ScenarioContext,
  type ScenarioOutcome,
} from "./scenario.ts";
import { measureThroughput, throughputFigures, type ThroughputMeasured } from "./throughput.ts";

/** Node rows in the table: as many as the largest cluster measured. */
const MAX_NODES = 2;
const MiB = 1024 * 1024;

interface Measured {
  throughput: ThroughputMeasured;
  latency: LatencyMeasured;
  /** By node, in the order of context.nodes. */
  connections: number[];
  rssBytes: number[];
  /** Null without Redis (ours alone). */
  redisRssBytes: number | null;
}

/**
 * The figures of one phase, told apart from the other's: deliveriesPerSecond becomes
 * throughputDeliveriesPerSecond, "latency p99" in the latency phase "latency: p99".
 */
function inPhase(phase: string, figures: Figure[]): Figure[] {
  return figures.map((f) => ({
    ...f,
    key: `${phase}${f.key.charAt(0).toUpperCase()}${f.key.slice(1)}`,
    label: `${phase}: ${f.label.startsWith(`${phase} `) ? f.label.slice(phase.length + 1) : f.label}`,
  }));
}

function figures(m: Measured | undefined): Figure[] {
  const mib = (bytes: number | null | undefined) => (bytes === null || bytes === undefined ? null : bytes / MiB);
  const redisPercent = (phase: "throughput" | "latency") => m?.[phase].cpu.redisPercent ?? null;
  const nodes = Array.from({ length: MAX_NODES }, (_, i) => {
    const n = `node${i + 1}`;
    const label = `node ${i + 1}: `;
    return [
      figure(`${n}Connections`, `${label}connections`, "", m?.connections[i] ?? null),
      figure(`${n}DeliveriesPerSecond`, `${label}throughput deliveries/s`, "/s", m?.throughput.nodeDeliveriesPerSecond[i] ?? null),
      figure(`${n}ThroughputCpuPercent`, `${label}CPU, throughput phase`, "% core", m?.throughput.cpu.nodePercents[i] ?? null),
      figure(`${n}LatencyCpuPercent`, `${label}CPU, latency phase`, "% core", m?.latency.cpu.nodePercents[i] ?? null),
      figure(`${n}RssMiB`, `${label}RSS at the end`, "MiB", mib(m?.rssBytes[i])),
    ];
  });
  return [
    ...inPhase("throughput", throughputFigures(m?.throughput)),
    figure("throughputRedisCpuPercent", "throughput: Redis CPU", "% core", redisPercent("throughput")),
    ...inPhase("latency", latencyLoadFigures(m?.latency)),
    figure("latencyRedisCpuPercent", "latency: Redis CPU", "% core", redisPercent("latency")),
    ...nodes.flat(),
    figure("redisRssMiB", "Redis RSS at the end", "MiB", mib(m?.redisRssBytes)),
  ];
}

function describe(o: BenchOptions): string {
  return (
    `ours on a private redis-server as 1 node and as 2 nodes (clients split evenly), and ours without --redis: ` +
    `${o.clients} clients in one room, bursts of ${o.burst} per client per round for ${o.seconds} s, then ` +
    `${o.rate} msgs/s open loop for ${o.seconds} s on the same connections; server CPU is every node's together`
  );
}

export const clusterScenario: Scenario = {
  name: "cluster",
  describe,
  mainFigure: "throughputDeliveriesPerSecond",
  // Ours as configured for the run (fresh --db, limits lifted, --server-args): the nodes get --redis on top.
  setups: (options) => {
    const ours = oursSpec(options);
    return [singleServer(ours), cluster("1-node", ours, 1), cluster("2-nodes", ours, MAX_NODES)];
  },
  ratios: [
    ["2-nodes", "1-node"],
    ["1-node", "ours"],
  ],

  async run(context: ScenarioContext): Promise<ScenarioOutcome> {
    const connected = await connectOneRoom(context);
    if (connected.note !== undefined) return { figures: figures(undefined), notes: [connected.note] };
    const throughput = await measureThroughput(context);
    // Rounds end with every message delivered, so the open loop starts on a quiet server.
    const latency = await measureLatency(context);
    return {
      figures: figures({
        throughput: throughput.measured,
        latency: latency.measured,
        connections: connected.openedPerNode,
        rssBytes: context.nodes.map((node) => node.rssBytes()),
        redisRssBytes: context.redis?.rssBytes() ?? null,
      }),
      notes: [...throughput.notes, ...latency.notes],
    };
  },
};
