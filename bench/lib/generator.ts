// The coordinator's view of the load generator: one or more agents (processes)
// each holding a slice of the clients, driven together and summed.
import { LocalAgent, type Agent } from "./agent.ts";
import type { ConnectResult, Counts } from "./client-pool.ts";
import { splitClients, type Layout } from "./layout.ts";
import { nowUs } from "./marker.ts";
import { WorkerAgent } from "./worker-agent.ts";

/** Lets agents' first open-loop sends start together after the request reaches them. */
const OPEN_LOOP_LEAD_US = 50_000;
const POLL_MS = 20;

export interface CpuSnapshot {
  wallMs: number;
  /** CPU seconds per generator process, coordinator first. */
  perProcess: number[];
}

export interface CpuUse {
  /** All generator processes together, in % of one core. */
  totalPercent: number;
  /** The busiest single process, in % of one core: near 100 means a saturated event loop. */
  busiestPercent: number;
}

export interface OpenLoopOutcome {
  sent: number;
  lagUs: number[];
}

export class Generator {
  private constructor(
    private readonly agents: Agent[],
    private readonly usesWorkers: boolean,
  ) {}

  /** processes = 1 keeps the clients in this process; more spawns worker processes. */
  static create(processes: number): Generator {
    if (processes <= 1) return new Generator([new LocalAgent()], false);
    return new Generator(
      Array.from({ length: processes }, () => new WorkerAgent()),
      true,
    );
  }

  get processCount(): number {
    return this.agents.length;
  }

  async setup(layout: Layout): Promise<void> {
    const slices = splitClients(layout.totalClients, this.agents.length);
    await Promise.all(
      this.agents.map((agent, i) => {
        const slice = slices[i] ?? { first: 0, count: 0 };
        return agent.request({ op: "setup", layout, first: slice.first, count: slice.count });
      }),
    );
  }

  /**
   * Opens every client, `batch` at a time in total across processes; with several urls
   * (a cluster's nodes) each client connects to one of them, alternating. With `share`
   * below 1, only that share of the clients is opened; the next call goes on from there.
   */
  async connect(urls: string[], batch: number, timeoutMs: number, share = 1): Promise<ConnectResult> {
    const perAgent = Math.max(1, Math.ceil(batch / this.agents.length));
    const results = await this.all({ op: "connect", urls, batch: perAgent, timeoutMs, share });
    const firstError = results.find((r) => r.firstError !== undefined)?.firstError;
    return {
      planned: sum(results.map((r) => r.planned)),
      opened: sum(results.map((r) => r.opened)),
      failed: sum(results.map((r) => r.failed)),
      timedOut: sum(results.map((r) => r.timedOut)),
      openedPerNode: sumColumns(results.map((r) => r.openedPerNode)),
      ...(firstError === undefined ? {} : { firstError }),
    };
  }

  async counts(): Promise<Counts> {
    const all = await this.all({ op: "counts" });
    return {
      frames: sum(all.map((c) => c.frames)),
      deliveries: sum(all.map((c) => c.deliveries)),
      crossRoom: sum(all.map((c) => c.crossRoom)),
      sent: sum(all.map((c) => c.sent)),
      dropped: sum(all.map((c) => c.dropped)),
      deliveriesPerNode: sumColumns(all.map((c) => c.deliveriesPerNode)),
    };
  }

  async reset(recordLatency: boolean): Promise<void> {
    await this.all({ op: "reset", recordLatency });
  }

  /** One closed-loop round on every agent; complete only if every agent's clients got everything. */
  async round(round: number, perClient: number, timeoutMs: number): Promise<{ complete: boolean; missing: number }> {
    const results = await this.all({ op: "round", round, perClient, timeoutMs });
    return { complete: results.every((r) => r.complete), missing: sum(results.map((r) => r.missing)) };
  }

  async sendOne(client: number): Promise<boolean> {
    const results = await this.all({ op: "send-one", client });
    return results.some(Boolean);
  }

  /**
   * Every agent sends its share of one global timetable; resolves when all have finished
   * sending. `startUs` (on the nowUs clock) lines the timetable up with something else.
   */
  async openLoop(ratePerSecond: number, seconds: number, startAtUs?: number): Promise<OpenLoopOutcome> {
    const startUs = startAtUs ?? nowUs() + (this.usesWorkers ? OPEN_LOOP_LEAD_US : 0);
    const results = await Promise.all(
      this.agents.map((agent, agentIndex) =>
        agent.request({
          op: "open-loop",
          plan: { ratePerSecond, seconds, startUs, agentIndex, agentCount: this.agents.length },
        }),
      ),
    );
    return { sent: sum(results.map((r) => r.sent)), lagUs: results.flatMap((r) => r.lagUs) };
  }

  async latencies(): Promise<number[]> {
    return (await this.all({ op: "latencies" })).flat();
  }

  /** Waits until `deliveries` reaches `expected` or `timeoutMs` passes; returns the last counts. */
  async waitForDeliveries(expected: number, timeoutMs: number): Promise<Counts> {
    const deadline = performance.now() + timeoutMs;
    let counts = await this.counts();
    while (counts.deliveries < expected && performance.now() < deadline) {
      await Bun.sleep(POLL_MS);
      counts = await this.counts();
    }
    return counts;
  }

  /**
   * Waits until no frame has arrived for `quietMs` (join notices from a big connect
   * storm, say), so the next phase measures messages, not the backlog. Returns
   * whether it got quiet within `timeoutMs`.
   */
  async settle(quietMs: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    let frames = (await this.counts()).frames;
    let quietSince = performance.now();
    while (performance.now() < deadline) {
      await Bun.sleep(POLL_MS);
      const now = (await this.counts()).frames;
      if (now !== frames) {
        frames = now;
        quietSince = performance.now();
      } else if (performance.now() - quietSince >= quietMs) {
        return true;
      }
    }
    return false;
  }

  async cpuSnapshot(): Promise<CpuSnapshot> {
    const usages = this.usesWorkers ? await this.all({ op: "cpu" }) : [];
    const seconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;
    return { wallMs: performance.now(), perProcess: [seconds(process.cpuUsage()), ...usages.map(seconds)] };
  }

  static cpuUse(before: CpuSnapshot, after: CpuSnapshot): CpuUse {
    const wallSeconds = Math.max(1e-9, (after.wallMs - before.wallMs) / 1000);
    const percents = after.perProcess.map((s, i) => ((s - (before.perProcess[i] ?? 0)) / wallSeconds) * 100);
    return { totalPercent: sum(percents), busiestPercent: Math.max(0, ...percents) };
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.agents.map((agent) => agent.request({ op: "close" })));
    for (const agent of this.agents) agent.dispose();
  }

  private all<R extends Parameters<Agent["request"]>[0]>(request: R) {
    return Promise.all(this.agents.map((agent) => agent.request(request)));
  }
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Element-wise sum of per-node counts from every agent (an agent with no clients may report fewer nodes). */
function sumColumns(rows: number[][]): number[] {
  const width = Math.max(0, ...rows.map((row) => row.length));
  return Array.from({ length: width }, (_, i) => sum(rows.map((row) => row[i] ?? 0)));
}
