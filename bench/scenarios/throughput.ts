// Scenario 1, broadcast throughput: N clients in one room each send a burst, and the
// next round starts only when every client has every message of the last one, so
// the figure is deliveries the server actually completed, not frames queued. The
// measurement itself (measureThroughput) is also the cluster scenario's first phase.
import {
  connectOneRoom,
  cpuFigures,
  figure,
  lostCount,
  withCpuWindow,
  type CpuWindow,
  type Figure,
  type Scenario,
  type ScenarioContext,
  type ScenarioOutcome,
} from "./scenario.ts";

const ROUND_TIMEOUT_MS = 10_000;

export interface ThroughputMeasured {
  deliveriesPerSecond: number;
  messagesPerSecond: number;
  rounds: number;
  lost: number;
  dropped: number;
  cpu: CpuWindow;
  /** deliveriesPerSecond by the node the receiving clients are on, in the order of context.nodes. */
  nodeDeliveriesPerSecond: number[];
}

export function throughputFigures(m: ThroughputMeasured | undefined): Figure[] {
  return [
    figure("deliveriesPerSecond", "deliveries/s", "/s", m?.deliveriesPerSecond ?? null, "higher"),
    figure("messagesPerSecond", "messages sent/s", "/s", m?.messagesPerSecond ?? null, "higher"),
    figure("rounds", "rounds completed", "", m?.rounds ?? null),
    figure("lost", "deliveries missing", "", m?.lost ?? null, "lower"),
    figure("dropped", "connections dropped", "", m?.dropped ?? null, "lower"),
    ...cpuFigures("", m?.cpu),
  ];
}

export const throughputScenario: Scenario = {
  name: "throughput",
  describe: (o) => `${o.clients} clients in one room, bursts of ${o.burst} per client per round, ${o.seconds} s`,
  mainFigure: "deliveriesPerSecond",

  async run(context: ScenarioContext): Promise<ScenarioOutcome> {
    const connected = await connectOneRoom(context);
    if (connected.note !== undefined) return { figures: throughputFigures(undefined), notes: [connected.note] };
    const { measured, notes } = await measureThroughput(context);
    return { figures: throughputFigures(measured), notes };
  },
};

/** Rounds for options.seconds, on options.clients clients already connected to one room and quiet. */
export async function measureThroughput(context: ScenarioContext): Promise<{ measured: ThroughputMeasured; notes: string[] }> {
  const { generator, options } = context;
  const clients = options.clients;
  await generator.reset(false);
  const notes: string[] = [];
  const { result, cpu } = await withCpuWindow(context, async () => {
    const started = performance.now();
    let rounds = 0;
    while (performance.now() - started < options.seconds * 1000) {
      const round = await generator.round(rounds + 1, options.burst, ROUND_TIMEOUT_MS);
      if (!round.complete) {
        notes.push(`round ${rounds + 1} gave up after ${ROUND_TIMEOUT_MS / 1000} s with ${round.missing} deliveries missing`);
        break;
      }
      rounds++;
    }
    return { rounds, wallMs: performance.now() - started, counts: await generator.counts() };
  });

  const seconds = result.wallMs / 1000;
  const { counts } = result;
  return {
    measured: {
      deliveriesPerSecond: counts.deliveries / seconds,
      messagesPerSecond: counts.sent / seconds,
      rounds: result.rounds,
      lost: lostCount(counts.sent * clients, counts.deliveries),
      dropped: counts.dropped,
      cpu,
      nodeDeliveriesPerSecond: counts.deliveriesPerNode.map((d) => d / seconds),
    },
    notes,
  };
}
