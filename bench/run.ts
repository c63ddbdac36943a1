// `bun run bench`: measures ours against the ceiling and the original (and any other
// server asked for), same scenarios, same run. Entry only: flags in, report out. See --help.
import { describeMachine } from "./lib/machine.ts";
import { helpText, readBenchOptions, UsageError, type BenchOptions } from "./lib/options.ts";
import { renderReport, type RunReport } from "./lib/report.ts";
import { runAll, serversInRun } from "./lib/runner.ts";
import { serverSpecs } from "./lib/servers.ts";

function parseOrExit(argv: string[]): BenchOptions {
  try {
    return readBenchOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench: ${error.message}`);
    process.exit(2);
  }
}

/** An argument as it would be typed: quoted when it holds anything but plain characters. */
function shellWord(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options = parseOrExit(argv);
  if (options.help) {
    console.log(helpText());
    return;
  }
  let specs;
  try {
    specs = serverSpecs(options);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench: ${error.message}`);
    process.exit(2);
  }

  const startedAt = new Date();
  const started = performance.now();
  // Progress goes to stderr so `--json > out.json` stays machine-readable.
  const scenarioReports = await runAll(options, specs, (line) => console.error(`bench: ${line}`));
  const report: RunReport = {
    command: ["bun run bench", ...argv.map(shellWord)].join(" "),
    startedAt: startedAt.toISOString(),
    wallSeconds: (performance.now() - started) / 1000,
    machine: describeMachine(),
    generatorProcesses: options.processes,
    repeat: options.repeat,
    servers: serversInRun(options, specs),
    scenarios: scenarioReports,
  };
  console.log(options.json ? JSON.stringify(report, null, 2) : renderReport(report));
}

await main();
// Lingering sockets or timers must not keep a finished run alive.
process.exit(0);
