// Every process the benchmark starts is registered here, so Ctrl-C, a crash or a
// normal exit never leaves a server or a worker running behind us.
import type { Subprocess } from "bun";

const cleanups = new Set<() => void>();
let installed = false;

/** Runs `cleanup` when the benchmark exits for any reason; returns the unregister function. */
export function onExitCleanup(cleanup: () => void): () => void {
  installHandlers();
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

const trackedChildren = new Map<Subprocess, () => void>();

export function trackChild(child: Subprocess): void {
  trackedChildren.set(child, onExitCleanup(() => child.kill("SIGKILL")));
}

export function untrackChild(child: Subprocess): void {
  trackedChildren.get(child)?.();
  trackedChildren.delete(child);
}

function runCleanups(): void {
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      // Already gone; keep cleaning up the rest.
    }
  }
  cleanups.clear();
}

function installHandlers(): void {
  if (installed) return;
  installed = true;
  process.on("exit", runCleanups);
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
    process.on(signal, () => {
      runCleanups();
      process.exit(code);
    });
  }
}
