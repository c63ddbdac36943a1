// Scenario 3, idle connections: what holding a connection costs the server in
// resident memory, and how fast it accepts them. Connections open in batches so
// the accept rate is the server's, not a SYN backlog's.
//
// They open in two halves with RSS read between them. RSS per connection from zero
// is the headline; the second half's alone is what one more connection costs once
// the server is warm: the first connections also pay for one-time growth (the JIT
// compiling the connection path, the allocator's first pages), which a server that
// ran with its JIT off (BUN_JSC_useDFGJIT=0) showed to be about 1 KiB a connection
// of ours' figure at 10,000 connections.
import {
  connectShare,
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
  /** Opened in the second half (rssHalfBytes to rssAfterBytes). */
  openedSecondHalf: number;
  failed: number;
  acceptedPerSecond: number;
  rssBeforeBytes: number;
  rssHalfBytes: number;
  rssAfterBytes: number;
  framesWhileConnecting: number;
  cpu: CpuWindow;
}

function figures(m: Measured | undefined): Figure[] {
  const perConnection = m && m.opened > 0 ? (m.rssAfterBytes - m.rssBeforeBytes) / m.opened / 1024 : null;
  const secondHalf = m && m.openedSecondHalf > 0 ? (m.rssAfterBytes - m.rssHalfBytes) / m.openedSecondHalf / 1024 : null;
  return [
    figure("rssPerConnectionKiB", "server RSS per connection", "KiB", perConnection, "lower"),
    figure("rssPerConnectionSecondHalfKiB", "server RSS per connection, second half", "KiB", secondHalf, "lower"),
    figure("acceptedPerSecond", "connections accepted/s", "/s", m?.acceptedPerSecond ?? null, "higher"),
    figure("opened", "connections open", "", m?.opened ?? null),
    figure("failed", "connections failed", "", m?.failed ?? null, "lower"),
    figure("rssBeforeMiB", "server RSS, no connections", "MiB", m ? m.rssBeforeBytes / MiB : null, "lower"),
    figure("rssAfterMiB", "server RSS, all connected", "MiB", m ? m.rssAfterBytes / MiB : null, "lower"),
    figure("framesWhileConnecting", "frames received (notices)", "", m?.framesWhileConnecting ?? null),
    ...cpuFigures("", m?.cpu, "second half: "),
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

    const layout = { totalClients: total, roomSize: 0 };
    await generator.setup(layout);
    const first = await connectShare(context, 0.5, CONNECT_TIMEOUT_MS);
    const firstSettled = await generator.settle(SETTLE_QUIET_MS, SETTLE_TIMEOUT_MS);
    await Bun.sleep(HOLD_MS);
    const rssHalfBytes = server.rssBytes();
    // CPU while the warm server accepts the second half.
    const { result: second, cpu } = await withCpuWindow(context, () => connectShare(context, 1, CONNECT_TIMEOUT_MS));
    const notes = [first.note, second.note].filter((note): note is string => note !== undefined);
    const secondSettled = await generator.settle(SETTLE_QUIET_MS, SETTLE_TIMEOUT_MS);
    const settled = firstSettled && secondSettled;
    if (!settled) notes.push(`notices were still arriving ${SETTLE_TIMEOUT_MS / 1000} s after connecting`);
    await Bun.sleep(HOLD_MS);
    const counts = await generator.counts();
    if (counts.dropped > 0) notes.push(`${counts.dropped} connections dropped while idle`);

    return {
      figures: figures({
        opened: first.opened + second.opened - counts.dropped,
        openedSecondHalf: second.opened,
        failed: first.failed + second.failed,
        // Time spent connecting only: the pause between the halves is left out.
        acceptedPerSecond: (first.opened + second.opened) / ((first.wallMs + second.wallMs) / 1000),
        rssBeforeBytes,
        rssHalfBytes,
        rssAfterBytes: server.rssBytes(),
        framesWhileConnecting: counts.frames,
        cpu,
      }),
      notes,
    };
  },
};
