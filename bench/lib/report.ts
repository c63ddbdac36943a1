// The run's results as data (--json) and as Markdown tables people can read in a
// terminal or paste into RESULTS.md: one table per scenario, a column per server and
// ours' ratio to every other server (or the ratios a scenario names: the cluster's
// 2-nodes/1-node). With --repeat N every cell is the median of the N rounds, and the
// JSON keeps each round's own figures.
import type { Figure } from "../scenarios/scenario.ts";

/** One run of one scenario against one server process. */
export interface RoundResult {
  /** 1-based. */
  round: number;
  server: string;
  /** Pid of the server process measured (a cluster's first node), so callers can check it is gone. */
  pid: number | null;
  /** Every process the run started: the server, or a cluster's nodes and then its Redis. */
  pids: number[];
  figures: Figure[];
  notes: string[];
  /** Set when the scenario could not run at all against this server in this round. */
  error: string | null;
  wallSeconds: number;
}

/** A server's result in one scenario, over all rounds. */
export interface ServerResult {
  server: string;
  /** Pid of the first round's server process; every round's is in `rounds`. */
  pid: number | null;
  /** The median of each figure over the rounds that measured it (with one round, its figures). */
  figures: Figure[];
  notes: string[];
  /** Set when no round of the scenario could run against this server. */
  error: string | null;
  /** All rounds together. */
  wallSeconds: number;
  /** Every round's raw figures, in round order. */
  rounds: RoundResult[];
}

export interface ScenarioReport {
  name: string;
  description: string;
  /** How many rounds each server ran (--repeat). */
  rounds: number;
  /** Key of the figure whose per-round ratios the report lists when rounds ≥ 2. */
  mainFigure: string;
  /** Ratio columns as [numerator, denominator] servers; absent, ours over every other server. */
  ratios?: Array<[string, string]>;
  results: ServerResult[];
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  bun: string;
  node: string;
  openFilesLimit: string;
}

export interface RunReport {
  command: string;
  startedAt: string;
  wallSeconds: number;
  machine: MachineInfo;
  generatorProcesses: number;
  /** Rounds per scenario (--repeat). */
  repeat: number;
  servers: Array<{ name: string; command: string }>;
  scenarios: ScenarioReport[];
}

/** Ratio columns come in this order, then any other server (--compare) in run order. */
const RATIO_ORDER = ["ceiling", "original", "ours-memory", "envelope"];

/** Median of the values; the mean of the middle two for an even count; null for none. */
export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? Number.NaN) + upper) / 2;
}

function roundList(rounds: number[]): string {
  return rounds.length === 1 ? `round ${rounds[0]}` : `rounds ${rounds.join(", ")}`;
}

/**
 * One server's rounds of a scenario as one result: each figure the median of the
 * rounds that measured it, notes merged with the rounds they came from. A single
 * round is passed through as it is.
 */
export function combineRounds(server: string, runs: RoundResult[]): ServerResult {
  const pid = runs[0]?.pid ?? null;
  const wallSeconds = runs.reduce((sum, r) => sum + r.wallSeconds, 0);
  const result = (figures: Figure[], notes: string[], error: string | null): ServerResult =>
    ({ server, pid, figures, notes, error, wallSeconds, rounds: runs });
  const [first] = runs;
  if (first === undefined) return result([], [], "not run");
  if (runs.length === 1) return result(first.figures, first.notes, first.error);

  const ran = runs.filter((r) => r.error === null);
  const failed = runs.filter((r) => r.error !== null);
  if (ran.length === 0) {
    const distinct = new Set(failed.map((r) => r.error));
    return result([], [], distinct.size === 1 ? (first.error ?? "") : failed.map((r) => `round ${r.round}: ${r.error}`).join("; "));
  }
  const template = ran.find((r) => r.figures.length > 0)?.figures ?? [];
  const figures = template.map((f) => {
    const values = ran
      .map((r) => r.figures.find((g) => g.key === f.key)?.value)
      .filter((v): v is number => typeof v === "number");
    return { ...f, value: median(values) };
  });

  const notes = failed.map((r) => `round ${r.round}: error: ${r.error}`);
  const roundsOf = new Map<string, number[]>();
  for (const r of runs) {
    for (const note of new Set(r.notes)) roundsOf.set(note, [...(roundsOf.get(note) ?? []), r.round]);
  }
  for (const [note, rounds] of roundsOf) {
    notes.push(rounds.length === runs.length ? `every round: ${note}` : `${roundList(rounds)}: ${note}`);
  }
  if (failed.length > 0) notes.push(`figures are medians of the ${ran.length} of ${runs.length} rounds that ran`);
  return result(figures, notes, null);
}

/** ours/X columns: every server in the run but ours, baselines first (needs ours in the run). */
export function ratioColumns(servers: string[]): string[] {
  if (!servers.includes("ours")) return [];
  return [
    ...RATIO_ORDER.filter((name) => servers.includes(name)),
    ...servers.filter((name) => name !== "ours" && !RATIO_ORDER.includes(name)),
  ];
}

export function formatNumber(value: number | null): string {
  if (value === null) return "n/a";
  const abs = Math.abs(value);
  if (Number.isInteger(value) || abs >= 1000) return Math.round(value).toLocaleString("en-US");
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1 || value === 0) return value.toFixed(2);
  return value.toFixed(3);
}

function ratio(numerator: number | null | undefined, baseline: number | null | undefined): string {
  if (numerator === null || numerator === undefined || baseline === null || baseline === undefined || baseline === 0) return "-";
  return `${(numerator / baseline).toFixed(2)}x`;
}

function arrow(figure: Figure): string {
  if (figure.better === "higher") return " ↑";
  if (figure.better === "lower") return " ↓";
  return "";
}

function markdownTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `${"-".repeat(w + 1)}-` : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  return [line(header), rule, ...rows.map(line)];
}

/** The ratio columns of a scenario, as [numerator, denominator], each server present in it. */
function ratioPairs(scenario: ScenarioReport): Array<[string, string]> {
  const servers = scenario.results.map((r) => r.server);
  if (scenario.ratios === undefined) return ratioColumns(servers).map((b): [string, string] => ["ours", b]);
  return scenario.ratios.filter(([a, b]) => servers.includes(a) && servers.includes(b));
}

function scenarioTable(scenario: ScenarioReport): string[] {
  const servers = scenario.results.map((r) => r.server);
  const columns = ratioPairs(scenario);
  const byServer = new Map(scenario.results.map((r) => [r.server, r]));
  const template = scenario.results.find((r) => r.figures.length > 0)?.figures ?? [];

  const header = ["figure", ...servers, ...columns.map(([a, b]) => `${a}/${b}`)];
  const rows = template.map((figure) => {
    const valueOf = (server: string) => {
      const result = byServer.get(server);
      return result?.figures.find((f) => f.key === figure.key)?.value;
    };
    const cells = servers.map((server) =>
      byServer.get(server)?.error !== null ? "error" : formatNumber(valueOf(server) ?? null),
    );
    const unit = figure.unit === "" || figure.unit === "/s" ? "" : ` (${figure.unit})`;
    return [
      `${figure.label}${unit}${arrow(figure)}`,
      ...cells,
      ...columns.map(([a, b]) => (figure.better === "none" ? "" : ratio(valueOf(a), valueOf(b)))),
    ];
  });
  const notes = scenario.results.flatMap((r) => [
    ...(r.error === null ? [] : [`- ${r.server}: error: ${r.error}`]),
    ...r.notes.map((note) => `- ${r.server}: ${note}`),
  ]);
  const rounds = roundLines(scenario, template, columns);
  return [
    `### ${scenario.name}: ${scenario.description}`,
    "",
    ...markdownTable(header, rows),
    ...(rounds.length ? ["", ...rounds] : []),
    ...(notes.length ? ["", ...notes] : []),
    "",
  ];
}

/**
 * With two rounds or more: which rounds the medians come from, and each ratio column's
 * ratio of the scenario's main figure in each round, so the spread behind a median is visible.
 */
function roundLines(scenario: ScenarioReport, template: Figure[], columns: Array<[string, string]>): string[] {
  if (scenario.rounds < 2) return [];
  const head = `Median of ${scenario.rounds} rounds, server order rotated each round.`;
  const main = template.find((f) => f.key === scenario.mainFigure);
  if (main === undefined || columns.length === 0) return [head];
  const valueIn = (result: ServerResult | undefined, round: number): number | null | undefined => {
    const run = result?.rounds.find((r) => r.round === round);
    return run?.error === null ? run.figures.find((f) => f.key === main.key)?.value : undefined;
  };
  const lines = columns.flatMap(([a, b]) => {
    const numerator = scenario.results.find((r) => r.server === a);
    const baseline = scenario.results.find((r) => r.server === b);
    const ratios = Array.from({ length: scenario.rounds }, (_, i) => {
      const o = valueIn(numerator, i + 1);
      const v = valueIn(baseline, i + 1);
      return o === null || o === undefined || v === null || v === undefined || v === 0 ? null : o / v;
    });
    const known = ratios.filter((r): r is number => r !== null);
    // A server that never ran has its error under the table already.
    if (known.length === 0) return [];
    const range = known.length >= 2 ? ` (${Math.min(...known).toFixed(2)}x–${Math.max(...known).toFixed(2)}x)` : "";
    return [`- ${a}/${b}: ${ratios.map((r) => (r === null ? "-" : `${r.toFixed(2)}x`)).join(", ")}${range}`];
  });
  if (lines.length === 0) return [head];
  return [`${head} ${main.label} ratio in each round (min–max):`, "", ...lines];
}

export function renderReport(report: RunReport): string {
  const m = report.machine;
  return [
    `Command: ${report.command}`,
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Bun ${m.bun}, Node ${m.node}, open files ${m.openFilesLimit}`,
    `Started ${report.startedAt}, took ${Math.round(report.wallSeconds)} s; generator processes: ${report.generatorProcesses}`,
    ...report.servers.map((s) => `Server ${s.name}: ${s.command}`),
    "↑ higher is better, ↓ lower is better; a ratio column A/B divides A's figure by B's (ours by a baseline). CPU is % of one core.",
    ...(report.repeat > 1
      ? [`Each figure is the median of ${report.repeat} rounds (a fresh server per round); ratios divide the medians.`]
      : []),
    "",
    ...report.scenarios.flatMap(scenarioTable),
  ].join("\n");
}
