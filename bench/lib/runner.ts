// Runs every selected scenario against every selected server, --repeat rounds of
// them interleaved (the order rotated each round, so no server always runs first or
// always last), one server process and one fresh generator per run, each bounded in
// time and always torn down.
import { scenarios } from "../scenarios/index.ts";
import type { ScenarioOutcome } from "../scenarios/scenario.ts";
import { Generator } from "./generator.ts";
import type { BenchOptions, ScenarioName } from "./options.ts";
import { combineRounds, type RoundResult, type ScenarioReport } from "./report.ts";
import { startServer, type ServerProcess, type ServerSpec } from "./server-process.ts";

/** Generous: connect phases may take minutes against a slow server, but never forever. */
function scenarioDeadlineMs(options: BenchOptions): number {
  return 360_000 + options.seconds * 3 * 1000;
}

export type Progress = (line: string) => void;

/** Round r (0-based) runs the servers starting with the r-th: A B C, then B C A, then C A B. */
export function roundOrder<T>(items: T[], round: number): T[] {
  if (items.length === 0) return [];
  const start = round % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}

export async function runAll(options: BenchOptions, specs: ServerSpec[], progress: Progress): Promise<ScenarioReport[]> {
  const reports: ScenarioReport[] = [];
  const rounds = options.repeat;
  for (const name of options.scenario) {
    const scenario = scenarios[name];
    const runs = new Map<string, RoundResult[]>(specs.map((spec) => [spec.name, []]));
    for (let round = 1; round <= rounds; round++) {
      for (const spec of roundOrder(specs, round - 1)) {
        const where = rounds > 1 ? `${name} · round ${round}/${rounds} · ${spec.name}` : `${name} · ${spec.name}`;
        progress(`${where} …`);
        const result = await runOne(name, spec, options, round);
        progress(`${where} done in ${result.wallSeconds.toFixed(1)} s${result.error ? ` (error: ${result.error})` : ""}`);
        runs.get(spec.name)?.push(result);
      }
    }
    reports.push({
      name,
      description: scenario.describe(options),
      rounds,
      mainFigure: scenario.mainFigure,
      results: specs.map((spec) => combineRounds(spec.name, runs.get(spec.name) ?? [])),
    });
  }
  return reports;
}

async function runOne(name: ScenarioName, spec: ServerSpec, options: BenchOptions, round: number): Promise<RoundResult> {
  const started = performance.now();
  const finish = (server: ServerProcess | undefined, outcome: ScenarioOutcome, error: string | null): RoundResult => ({
    round,
    server: spec.name,
    pid: server?.pid ?? null,
    figures: outcome.figures,
    notes: outcome.notes,
    error,
    wallSeconds: (performance.now() - started) / 1000,
  });

  let server: ServerProcess;
  try {
    server = await startServer(specFor(name, spec));
  } catch (error) {
    return finish(undefined, { figures: [], notes: [] }, message(error));
  }
  const generator = Generator.create(options.processes);
  try {
    const outcome = await withDeadline(
      scenarios[name].run({ server, generator, options }),
      scenarioDeadlineMs(options),
      `${name} did not finish within ${Math.round(scenarioDeadlineMs(options) / 1000)} s`,
    );
    if (!server.alive) outcome.notes.push(`the server exited during the run: ${server.lastWords()}`);
    return finish(server, outcome, null);
  } catch (error) {
    return finish(server, { figures: [], notes: [] }, message(error));
  } finally {
    // Server first: closing thousands of clients into a live server would start a leave storm.
    await server.stop();
    await generator.close();
  }
}

/** The spec to start for this scenario: a server with a rate limit keeps it on where the scenario measures it. */
function specFor(name: ScenarioName, spec: ServerSpec): ServerSpec {
  const limited = spec.limited;
  if (scenarios[name].ownRateLimit !== true || limited === undefined) return spec;
  return { ...spec, argv: limited.argv, limitsInForce: { rate: limited.rate, burst: limited.burst } };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: Timer | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
