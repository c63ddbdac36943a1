// Scenario 4, one large room: thousands of clients in one room and a message every
// interval; each message fans out to all of them, so the tail latency is the time
// the server takes to reach its last recipient.
import { summarizeLatencies, type LatencySummary } from "../lib/stats.ts";
import {
  connectLayout,
  cpuFigures,
  figure,
  latencyFigures,
  lostCount,
  SETTLE_QUIET_MS,
  withCpuWindow,
  type CpuWindow,
  type Figure,
  type Scenario,
  type ScenarioContext,
  type ScenarioOutcome,
} from "./scenario.ts";

const CONNECT_TIMEOUT_MS = 120_000;
const SETTLE_TIMEOUT_MS = 60_000;
const DRAIN_TIMEOUT_MS = 10_000;

interface Measured {
  latency: LatencySummary | undefined;
  sent: number;
  lost: number;
  acceptedPerSecond: number;
  cpu: CpuWindow;
}

function figures(m: Measured | undefined): Figure[] {
  return [
    ...latencyFigures("", m?.latency),
    figure("lost", "never arrived", "", m?.lost ?? null, "lower"),
    figure("sent", "messages sent", "", m?.sent ?? null),
    figure("acceptedPerSecond", "connections accepted/s", "/s", m?.acceptedPerSecond ?? null, "higher"),
    ...cpuFigures("", m?.cpu),
  ];
}

export const largeRoomScenario: Scenario = {
  name: "large-room",
  describe: (o) => `${o["room-clients"]} clients in one room, a message every ${o["interval-ms"]} ms, ${o.seconds} s`,
  mainFigure: "p99Ms",

  async run(context: ScenarioContext): Promise<ScenarioOutcome> {
    const { generator, options } = context;
    const requested = options["room-clients"];
    const connected = await connectLayout(context, { totalClients: requested, roomSize: 0 }, CONNECT_TIMEOUT_MS);
    // A server too slow to admit everyone in time is still measured, with the room it has.
    if (connected.opened === 0) return { figures: figures(undefined), notes: [connected.note ?? "no connection opened"] };
    const clients = connected.opened;
    const notes = connected.note === undefined ? [] : [`${connected.note}; measured with a room of ${clients}`];
    if (!(await generator.settle(SETTLE_QUIET_MS, SETTLE_TIMEOUT_MS))) {
      notes.push(`join notices were still arriving ${SETTLE_TIMEOUT_MS / 1000} s after connecting`);
    }
    await generator.reset(true);

    const { result, cpu } = await withCpuWindow(context, async () => {
      const load = await generator.openLoop(1000 / options["interval-ms"], options.seconds);
      const counts = await generator.waitForDeliveries(load.sent * clients, DRAIN_TIMEOUT_MS);
      return { load, counts };
    });

    const { load, counts } = result;
    if (counts.dropped > 0) notes.push(`${counts.dropped} connections dropped during the run`);
    return {
      figures: figures({
        latency: summarizeLatencies(await generator.latencies()),
        sent: load.sent,
        lost: lostCount(load.sent * clients, counts.deliveries),
        acceptedPerSecond: connected.opened / (connected.wallMs / 1000),
        cpu,
      }),
      notes,
    };
  },
};
