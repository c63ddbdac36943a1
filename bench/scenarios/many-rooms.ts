// Scenario 5, many small rooms: throughput (closed-loop rounds) and latency (open
// loop) when every message fans out to a handful of clients. A server that ignores
// ?room= would send each message to everyone; a one-message probe finds that out
// first, and the load phases are then skipped rather than measuring a flood.
import { roomMembers, type Layout } from "../lib/layout.ts";
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
const ROUND_TIMEOUT_MS = 10_000;
const DRAIN_TIMEOUT_MS = 5_000;
/** After the probe reached its own room, how long other rooms get to (wrongly) receive it. */
const PROBE_LEAK_WAIT_MS = 300;

interface Measured {
  deliveriesPerSecond?: number;
  rounds?: number;
  latency?: LatencySummary | undefined;
  lost?: number;
  crossRoom: number;
  cpu?: CpuWindow;
}

function figures(m: Measured | undefined): Figure[] {
  return [
    figure("deliveriesPerSecond", "deliveries/s (rounds)", "/s", m?.deliveriesPerSecond ?? null, "higher"),
    figure("rounds", "rounds completed", "", m?.rounds ?? null),
    ...latencyFigures("", m?.latency),
    figure("lost", "never arrived (both phases)", "", m?.lost ?? null, "lower"),
    figure("crossRoom", "cross-room deliveries", "", m?.crossRoom ?? null, "lower"),
    ...cpuFigures("", m?.cpu),
  ];
}

export const manyRoomsScenario: Scenario = {
  name: "many-rooms",
  describe: (o) =>
    `${o.rooms} rooms of ${o["room-size"]}: one message per client per round for ${o.seconds} s, ` +
    `then ${o["rooms-rate"]} msgs/s open loop for ${o.seconds} s`,
  mainFigure: "p99Ms",

  async run(context: ScenarioContext): Promise<ScenarioOutcome> {
    const { generator, server, options } = context;
    if (!server.spec.hasRooms) return { figures: figures(undefined), notes: ["n/a: this server has no rooms"] };

    const layout: Layout = { totalClients: options.rooms * options["room-size"], roomSize: options["room-size"] };
    const connected = await connectLayout(context, layout, CONNECT_TIMEOUT_MS);
    if (connected.note !== undefined) return { figures: figures(undefined), notes: [connected.note] };
    const notes: string[] = [];
    if (!(await generator.settle(SETTLE_QUIET_MS, SETTLE_TIMEOUT_MS))) {
      notes.push(`join notices were still arriving ${SETTLE_TIMEOUT_MS / 1000} s after connecting`);
    }

    const leaked = await probeRoomIsolation(context, layout);
    if (leaked > 0) {
      return {
        figures: figures({ crossRoom: leaked }),
        notes: [
          ...notes,
          `n/a: rooms not isolated — one message to room r0 reached ${leaked} clients of other rooms; load phases skipped`,
        ],
      };
    }

    const { result, cpu } = await withCpuWindow(context, async () => {
      await generator.reset(false);
      const started = performance.now();
      let rounds = 0;
      while (performance.now() - started < options.seconds * 1000) {
        const round = await generator.round(rounds + 1, 1, ROUND_TIMEOUT_MS);
        if (!round.complete) {
          notes.push(`round ${rounds + 1} gave up after ${ROUND_TIMEOUT_MS / 1000} s with ${round.missing} deliveries missing`);
          break;
        }
        rounds++;
      }
      const roundWallMs = performance.now() - started;
      const roundCounts = await generator.counts();

      await generator.reset(true);
      const load = await generator.openLoop(options["rooms-rate"], options.seconds);
      // Sends rotate over all clients, so every room sends about equally: sent × room size.
      const loadCounts = await generator.waitForDeliveries(load.sent * options["room-size"], DRAIN_TIMEOUT_MS);
      return { rounds, roundWallMs, roundCounts, load, loadCounts };
    });

    const { roundCounts, loadCounts, load } = result;
    const dropped = loadCounts.dropped;
    if (dropped > 0) notes.push(`${dropped} connections dropped during the run`);
    return {
      figures: figures({
        deliveriesPerSecond: roundCounts.deliveries / (result.roundWallMs / 1000),
        rounds: result.rounds,
        latency: summarizeLatencies(await generator.latencies()),
        lost:
          lostCount(roundCounts.sent * options["room-size"], roundCounts.deliveries) +
          lostCount(load.sent * options["room-size"], loadCounts.deliveries),
        crossRoom: roundCounts.crossRoom + loadCounts.crossRoom,
        cpu,
      }),
      notes,
    };
  },
};

/** Sends one message from client 0 (room r0); returns how many clients outside r0 got it. */
async function probeRoomIsolation(context: ScenarioContext, layout: Layout): Promise<number> {
  const { generator } = context;
  await generator.reset(false);
  await generator.sendOne(0);
  await generator.waitForDeliveries(roomMembers(layout, 0), DRAIN_TIMEOUT_MS);
  await Bun.sleep(PROBE_LEAK_WAIT_MS);
  return (await generator.counts()).crossRoom;
}
