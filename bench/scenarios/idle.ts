// Scenario 3, idle connections: what holding a connection costs the server in
// resident memory, and how fast it accepts them. Connections open in batches so
// the accept rate is the server's, not a SYN backlog's.
import {
  connectLayout,
  cpuFigures,
  figure,
  SETTLE_QUIET_MS,
  withCpuWindow,
  type CpuWindow,
  type Figure,
  type Scenario,
  type ScenarioContext,
  type ScenarioOutcome,
} from "./scenario.ts";

const CONNECT_TIMEOUT_MS = 120_000;
/** Join notices to every earlier client make connecting O(n²) for some servers; wait for them. */
const SETTLE_TIMEOUT_MS = 60_000;
/** Lets the server's allocator and GC catch up before RSS is read. */
const HOLD_MS = 1000;

const MiB = 1024 * 1024;

interface Measured {
  opened: number;
  failed: number;
  acceptedPerSecond: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  framesWhileConnecting: number;
  cpu: CpuWindow;
}

function figures(m: Measured | undefined): Figure[] {
  const perConnection = m && m.opened > 0 ? (m.rssAfterBytes - m.rssBeforeBytes) / m.opened / 1024 : null;
  return [
    figure("rssPerConnectionKiB", "server RSS per connection", "KiB", perConnection, "lower"),
    figure("acceptedPerSecond", "connections accepted/s", "/s", m?.acceptedPerSecond ?? null, "higher"),
    figure("opened", "connections open", "", m?.opened ?? null),
    figure("failed", "connections failed", "", m?.failed ?? null, "lower"),
    figure("rssBeforeMiB", "server RSS, no connections", "MiB", m ? m.rssBeforeBytes / MiB : null, "lower"),
    figure("rssAfterMiB", "server RSS, all connected", "MiB", m ? m.rssAfterBytes / MiB : null, "lower"),
    figure("framesWhileConnecting", "frames received (notices)", "", m?.framesWhileConnecting ?? null),
    ...cpuFigures("", m?.cpu),
  ];
}

export const idleScenario: Scenario = {
  name: "idle",
  describe: (o) => `${o["idle-connections"]} idle connections opened ${o.batch} at a time`,
  mainFigure: "rssPerConnectionKiB",

  async run(context: ScenarioContext): Promise<ScenarioOutcome> {
    const { generator, server, options } = context;
    const total = options["idle-connections"];
    const rssBeforeBytes = server.rssBytes();

    const { result, cpu } = await withCpuWindow(context, () =>
      connectLayout(context, { totalClients: total, roomSize: 0 }, CONNECT_TIMEOUT_MS),
    );
    const notes = result.note === undefined ? [] : [result.note];
    const settled = await generator.settle(SETTLE_QUIET_MS, SETTLE_TIMEOUT_MS);
    if (!settled) notes.push(`notices were still arriving ${SETTLE_TIMEOUT_MS / 1000} s after connecting`);
    await Bun.sleep(HOLD_MS);
    const counts = await generator.counts();
    if (counts.dropped > 0) notes.push(`${counts.dropped} connections dropped while idle`);

    return {
      figures: figures({
        opened: result.opened - counts.dropped,
        failed: result.failed,
        acceptedPerSecond: result.opened / (result.wallMs / 1000),
        rssBeforeBytes,
        rssAfterBytes: server.rssBytes(),
        framesWhileConnecting: counts.frames,
        cpu,
      }),
      notes,
    };
  },
};
