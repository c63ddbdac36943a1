// Runs every selected scenario against every selected server (or, for the cluster
// scenario, against its own setups), --repeat rounds of them interleaved (the order
// rotated each round, so no server always runs first or always last), one fresh
// deployment and generator per run, each bounded in time and always torn down.
import { scenarios } from "../scenarios/index.ts";
import type { ScenarioOutcome } from "../scenarios/scenario.ts";
import { singleServer, type Deployment, type Setup } from "./deployment.ts";
import { Generator } from "./generator.ts";
import type { BenchOptions, ScenarioName } from "./options.ts";
import { combineRounds, type RoundResult, type ScenarioReport } from "./report.ts";
import type { ServerSpec } from "./server-process.ts";

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

/** The columns of one scenario: its own setups (cluster), or one server process per server of the run. */
export function setupsFor(name: ScenarioName, options: BenchOptions, specs: ServerSpec[]): Setup[] {
  return scenarios[name].setups?.(options) ?? specs.map((spec) => singleServer(specFor(name, spec), spec));
}

/** Every column of the selected scenarios once, with its command, for the report's header. */
export function serversInRun(options: BenchOptions, specs: ServerSpec[]): Array<{ name: string; command: string }> {
  const listed = new Map<string, string>();
  for (const name of options.scenario) {
    for (const setup of setupsFor(name, options, specs)) if (!listed.has(setup.name)) listed.set(setup.name, setup.command);
  }
  return [...listed].map(([name, command]) => ({ name, command }));
}

export async function runAll(options: BenchOptions, specs: ServerSpec[], progress: Progress): Promise<ScenarioReport[]> {
  const reports: ScenarioReport[] = [];
  const rounds = options.repeat;
  for (const name of options.scenario) {
    const scenario = scenarios[name];
    const setups = setupsFor(name, options, specs);
    const runs = new Map<string, RoundResult[]>(setups.map((setup) => [setup.name, []]));
    for (let round = 1; round <= rounds; round++) {
      for (const setup of roundOrder(setups, round - 1)) {
        const where = rounds > 1 ? `${name} · round ${round}/${rounds} · ${setup.name}` : `${name} · ${setup.name}`;
        progress(`${where} …`);
        const result = await runOne(name, setup, options, round);
        progress(`${where} done in ${result.wallSeconds.toFixed(1)} s${result.error ? ` (error: ${result.error})` : ""}`);
        runs.get(setup.name)?.push(result);
      }
    }
    reports.push({
      name,
      description: scenario.describe(options),
      rounds,
      mainFigure: scenario.mainFigure,
      ...(scenario.ratios === undefined ? {} : { ratios: scenario.ratios }),
      results: setups.map((setup) => combineRounds(setup.name, runs.get(setup.name) ?? [])),
    });
  }
  return reports;
}

async function runOne(name: ScenarioName, setup: Setup, options: BenchOptions, round: number): Promise<RoundResult> {
  const started = performance.now();
  const finish = (deployment: Deployment | undefined, outcome: ScenarioOutcome, error: string | null): RoundResult => ({
    round,
    server: setup.name,
    pid: deployment?.pids[0] ?? null,
    pids: deployment?.pids ?? [],
    figures: outcome.figures,
    notes: outcome.notes,
    error,
    wallSeconds: (performance.now() - started) / 1000,
  });

  let deployment: Deployment;
  try {
    deployment = await setup.start();
  } catch (error) {
    return finish(undefined, { figures: [], notes: [] }, message(error));
  }
  const [server] = deployment.nodes;
  if (server === undefined) {
    await deployment.stop();
    return finish(deployment, { figures: [], notes: [] }, "no server process was started");
  }
  const generator = Generator.create(options.processes);
  try {
    const outcome = await withDeadline(
      scenarios[name].run({ server, nodes: deployment.nodes, redis: deployment.redis, generator, options }),
      scenarioDeadlineMs(options),
      `${name} did not finish within ${Math.round(scenarioDeadlineMs(options) / 1000)} s`,
    );
    outcome.notes.push(...deployment.deaths());
    return finish(deployment, outcome, null);
  } catch (error) {
    return finish(deployment, { figures: [], notes: [] }, message(error));
  } finally {
    // Servers first: closing thousands of clients into a live server would start a leave storm.
    await deployment.stop();
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
