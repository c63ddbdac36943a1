// Runs every selected scenario against every selected server, one server process
// and one fresh generator per pair, each bounded in time and always torn down.
import { scenarios } from "../scenarios/index.ts";
import type { ScenarioOutcome } from "../scenarios/scenario.ts";
import { Generator } from "./generator.ts";
import type { BenchOptions, ScenarioName } from "./options.ts";
import type { ScenarioReport, ServerResult } from "./report.ts";
import { startServer, type ServerProcess, type ServerSpec } from "./server-process.ts";

/** Generous: connect phases may take minutes against a slow server, but never forever. */
function scenarioDeadlineMs(options: BenchOptions): number {
  return 360_000 + options.seconds * 3 * 1000;
}

export type Progress = (line: string) => void;

export async function runAll(options: BenchOptions, specs: ServerSpec[], progress: Progress): Promise<ScenarioReport[]> {
  const reports: ScenarioReport[] = [];
  for (const name of options.scenario) {
    const scenario = scenarios[name];
    const results: ServerResult[] = [];
    for (const spec of specs) {
      progress(`${name} · ${spec.name} …`);
      const result = await runOne(name, spec, options);
      progress(`${name} · ${spec.name} done in ${result.wallSeconds.toFixed(1)} s${result.error ? ` (error: ${result.error})` : ""}`);
      results.push(result);
    }
    reports.push({ name, description: scenario.describe(options), results });
  }
  return reports;
}

async function runOne(name: ScenarioName, spec: ServerSpec, options: BenchOptions): Promise<ServerResult> {
  const started = performance.now();
  const finish = (server: ServerProcess | undefined, outcome: ScenarioOutcome, error: string | null): ServerResult => ({
    server: spec.name,
    pid: server?.pid ?? null,
    figures: outcome.figures,
    notes: outcome.notes,
    error,
    wallSeconds: (performance.now() - started) / 1000,
  });

  let server: ServerProcess;
  try {
    server = await startServer(spec);
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
