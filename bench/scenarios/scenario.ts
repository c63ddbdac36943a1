// What a scenario is and the pieces they share: connecting a layout, timing CPU
// around a phase, and turning measurements into report figures.
import type { Setup } from "../lib/deployment.ts";
import { Generator, type CpuUse } from "../lib/generator.ts";
import type { Layout } from "../lib/layout.ts";
import type { BenchOptions, ScenarioName } from "../lib/options.ts";
import type { RedisProcess } from "../lib/redis-process.ts";
import type { ServerProcess } from "../lib/server-process.ts";
import { percentile, type LatencySummary } from "../lib/stats.ts";

export type Better = "higher" | "lower" | "none";

/** One number in the report; null when it could not be measured (see the notes). */
export interface Figure {
  key: string;
  label: string;
  unit: string;
  value: number | null;
  better: Better;
}

export interface ScenarioOutcome {
  figures: Figure[];
  notes: string[];
}

export interface ScenarioContext {
  /** The server under test; in a cluster, its first node. */
  server: ServerProcess;
  /** Every server process the clients are split across: [server], or a cluster's nodes. */
  nodes: ServerProcess[];
  /** A cluster's Redis, whose CPU each window reports too. */
  redis: RedisProcess | undefined;
  generator: Generator;
  options: BenchOptions;
}

export interface Scenario {
  name: ScenarioName;
  /** One line for the report: what was run, with the sizes used. */
  describe(options: BenchOptions): string;
  /** Key of the figure whose ours/baseline ratio is listed per round when --repeat is 2 or more. */
  mainFigure: string;
  /**
   * Start servers that have a per-connection rate limit with it in force (ServerSpec.limited)
   * instead of lifted, because the limit is what the scenario measures.
   */
  ownRateLimit?: boolean;
  /** The columns to measure when they are not the run's servers (--servers, --compare): the cluster's. */
  setups?(options: BenchOptions): Setup[];
  /** Ratio columns as [numerator, denominator] column names; without, ours over every other server. */
  ratios?: Array<[string, string]>;
  run(context: ScenarioContext): Promise<ScenarioOutcome>;
}

export function figure(key: string, label: string, unit: string, value: number | null, better: Better = "none"): Figure {
  return { key, label, unit, value: value === null || Number.isFinite(value) ? value : null, better };
}

/** Quiet period that counts as "the join notices have all arrived". */
export const SETTLE_QUIET_MS = 300;

export interface ConnectOutcome {
  opened: number;
  failed: number;
  wallMs: number;
  /** `opened` by node, in the order of context.nodes. */
  openedPerNode: number[];
  note?: string;
}

/** Lays the clients out across the generator processes and opens them all, in batches, split across the nodes. */
export async function connectLayout(
  context: ScenarioContext,
  layout: Layout,
  timeoutMs: number,
): Promise<ConnectOutcome> {
  await context.generator.setup(layout);
  return connectShare(context, 1, timeoutMs);
}

/**
 * After connectLayout's setup: opens the layout's clients up to share `to` (0 to 1) of
 * them, going on from those an earlier call opened, so a scenario can measure between
 * two parts.
 */
export async function connectShare(context: ScenarioContext, to: number, timeoutMs: number): Promise<ConnectOutcome> {
  const started = performance.now();
  const urls = context.nodes.map((node) => node.url);
  const result = await context.generator.connect(urls, context.options.batch, timeoutMs, to);
  const wallMs = performance.now() - started;
  const outcome: ConnectOutcome = { opened: result.opened, failed: result.failed, wallMs, openedPerNode: result.openedPerNode };
  // What the generator's processes planned: each rounds its own share.
  const expected = result.planned;
  if (result.opened < expected) {
    const unattempted = expected - result.opened - result.failed - result.timedOut;
    outcome.note =
      `only ${result.opened} of ${expected} connections opened within ${Math.round(timeoutMs / 1000)} s` +
      (result.failed > 0 ? `; ${result.failed} failed (${result.firstError ?? "no reason given"})` : "") +
      (result.timedOut > 0 ? `; ${result.timedOut} still connecting at the deadline` : "") +
      (unattempted > 0 ? `; ${unattempted} not attempted` : "");
  }
  return outcome;
}

/**
 * The start of the one-room scenarios (throughput, latency, cluster): options.clients
 * clients in one room, connected within 30 s, then quiet (unless the outcome has a note
 * saying why not all of them connected).
 */
export async function connectOneRoom(context: ScenarioContext): Promise<ConnectOutcome> {
  const connected = await connectLayout(context, { totalClients: context.options.clients, roomSize: 0 }, 30_000);
  if (connected.note === undefined) await context.generator.settle(SETTLE_QUIET_MS, 10_000);
  return connected;
}

export interface CpuWindow {
  generator: CpuUse;
  /** Server process tree, % of one core; in a cluster, every node's together. */
  serverPercent: number;
  /** Each node's share of serverPercent, in the order of context.nodes. */
  nodePercents: number[];
  /** The cluster's Redis, % of one core; null without one. */
  redisPercent: number | null;
  wallMs: number;
}

/** Runs `phase` and reports the CPU the generator, the server (every node) and a cluster's Redis used meanwhile. */
export async function withCpuWindow<T>(
  context: ScenarioContext,
  phase: () => Promise<T>,
): Promise<{ result: T; cpu: CpuWindow }> {
  const generatorBefore = await context.generator.cpuSnapshot();
  const nodesBefore = context.nodes.map((node) => node.cpuSeconds());
  const redisBefore = context.redis?.cpuSeconds();
  const result = await phase();
  const generatorAfter = await context.generator.cpuSnapshot();
  const nodesAfter = context.nodes.map((node) => node.cpuSeconds());
  const redisAfter = context.redis?.cpuSeconds();
  const wallMs = generatorAfter.wallMs - generatorBefore.wallMs;
  const percent = (before: number, after: number) => ((after - before) / Math.max(1e-9, wallMs / 1000)) * 100;
  const nodePercents = nodesAfter.map((after, i) => percent(nodesBefore[i] ?? Number.NaN, after));
  return {
    result,
    cpu: {
      generator: Generator.cpuUse(generatorBefore, generatorAfter),
      serverPercent: nodePercents.reduce((a, b) => a + b, 0),
      nodePercents,
      redisPercent: redisBefore === undefined || redisAfter === undefined ? null : percent(redisBefore, redisAfter),
      wallMs,
    },
  };
}

/** `labelPrefix` tells phases apart in the table when a scenario reports more than one. */
export function cpuFigures(prefix: string, cpu: CpuWindow | undefined, labelPrefix = ""): Figure[] {
  return [
    figure(`${prefix}serverCpuPercent`, `${labelPrefix}server CPU`, "% core", cpu?.serverPercent ?? null),
    figure(`${prefix}generatorCpuPercent`, `${labelPrefix}generator CPU, all processes`, "% core", cpu?.generator.totalPercent ?? null),
    figure(`${prefix}generatorBusiestPercent`, `${labelPrefix}generator CPU, busiest process`, "% core", cpu?.generator.busiestPercent ?? null),
  ];
}

export function latencyFigures(prefix: string, summary: LatencySummary | undefined, labelPrefix = ""): Figure[] {
  return [
    figure(`${prefix}p50Ms`, `${labelPrefix}latency p50`, "ms", summary?.p50Ms ?? null, "lower"),
    figure(`${prefix}p99Ms`, `${labelPrefix}latency p99`, "ms", summary?.p99Ms ?? null, "lower"),
    figure(`${prefix}p999Ms`, `${labelPrefix}latency p99.9`, "ms", summary?.p999Ms ?? null, "lower"),
    figure(`${prefix}maxMs`, `${labelPrefix}latency max`, "ms", summary?.maxMs ?? null, "lower"),
  ];
}

/** How late the open-loop sends left, p99 in ms: large means the generator could not keep up. */
export function sendLagP99Ms(lagUs: number[] | undefined): number | null {
  if (lagUs === undefined || lagUs.length === 0) return null;
  return percentile(Float64Array.from(lagUs).sort(), 0.99) / 1000;
}

/** Messages that should have arrived (sent × room size) but had not when we stopped waiting. */
export function lostCount(expected: number, delivered: number): number {
  return Math.max(0, expected - delivered);
}
