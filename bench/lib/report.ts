// The run's results as data (--json) and as Markdown tables people can read in a
// terminal or paste into RESULTS.md: one table per scenario, a column per server and
// ours' ratio to each baseline.
import type { Figure } from "../scenarios/scenario.ts";

export interface ServerResult {
  server: string;
  /** Pid of the server process measured, so callers can check it is gone. */
  pid: number | null;
  figures: Figure[];
  notes: string[];
  /** Set when the scenario could not run at all against this server. */
  error: string | null;
  wallSeconds: number;
}

export interface ScenarioReport {
  name: string;
  description: string;
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
  servers: Array<{ name: string; command: string }>;
  scenarios: ScenarioReport[];
}

const BASELINES = ["ceiling", "original"] as const;

export function formatNumber(value: number | null): string {
  if (value === null) return "n/a";
  const abs = Math.abs(value);
  if (Number.isInteger(value) || abs >= 1000) return Math.round(value).toLocaleString("en-US");
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1 || value === 0) return value.toFixed(2);
  return value.toFixed(3);
}

function ratio(ours: number | null | undefined, baseline: number | null | undefined): string {
  if (ours === null || ours === undefined || baseline === null || baseline === undefined || baseline === 0) return "-";
  return `${(ours / baseline).toFixed(2)}x`;
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

function scenarioTable(scenario: ScenarioReport): string[] {
  const servers = scenario.results.map((r) => r.server);
  const hasOurs = servers.includes("ours");
  const ratioColumns = hasOurs ? BASELINES.filter((b) => servers.includes(b)) : [];
  const byServer = new Map(scenario.results.map((r) => [r.server, r]));
  const template = scenario.results.find((r) => r.figures.length > 0)?.figures ?? [];

  const header = ["figure", ...servers, ...ratioColumns.map((b) => `ours/${b}`)];
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
      ...ratioColumns.map((b) => (figure.better === "none" ? "" : ratio(valueOf("ours"), valueOf(b)))),
    ];
  });
  const notes = scenario.results.flatMap((r) => [
    ...(r.error === null ? [] : [`- ${r.server}: error: ${r.error}`]),
    ...r.notes.map((note) => `- ${r.server}: ${note}`),
  ]);
  return [`### ${scenario.name}: ${scenario.description}`, "", ...markdownTable(header, rows), ...(notes.length ? ["", ...notes] : []), ""];
}

export function renderReport(report: RunReport): string {
  const m = report.machine;
  return [
    `Command: ${report.command}`,
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Bun ${m.bun}, Node ${m.node}, open files ${m.openFilesLimit}`,
    `Started ${report.startedAt}, took ${Math.round(report.wallSeconds)} s; generator processes: ${report.generatorProcesses}`,
    ...report.servers.map((s) => `Server ${s.name}: ${s.command}`),
    "↑ higher is better, ↓ lower is better; ratios are ours divided by the baseline. CPU is % of one core.",
    "",
    ...report.scenarios.flatMap(scenarioTable),
  ].join("\n");
}
