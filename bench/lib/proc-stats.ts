// What the kernel says a server process costs: resident memory and CPU time, summed
// over the process and its descendants, so a server started through a wrapper
// (a shell, `bun run`) is still measured whole.
import { readdirSync, readFileSync } from "node:fs";

/** Kernel clock ticks per second for /proc/<pid>/stat; 100 on every Linux we target. */
const CLOCK_TICKS_PER_SECOND = 100;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** The process and all its descendants that are still alive. */
export function processTree(pid: number): number[] {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    const parent = tree[i];
    if (parent === undefined) continue;
    // children lists live per thread; the main thread's is where forks land, but a
    // runtime may fork from any thread.
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${parent}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      const children = readText(`/proc/${parent}/task/${task}/children`) ?? "";
      for (const child of children.split(" ")) if (child.trim() !== "") tree.push(Number(child));
    }
  }
  return tree;
}

/** VmRSS of one process in bytes, or 0 once it has gone. */
export function rssBytes(pid: number): number {
  const status = readText(`/proc/${pid}/status`) ?? "";
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

export function treeRssBytes(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + rssBytes(p), 0);
}

/** User + system CPU seconds used so far by one process, or 0 once it has gone. */
export function cpuSeconds(pid: number): number {
  const stat = readText(`/proc/${pid}/stat`) ?? "";
  // The command name may contain spaces and parentheses; fields resume after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the name: state is field 3, so utime (14) and stime (15) sit at 11 and 12.
  const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  return Number.isFinite(ticks) ? ticks / CLOCK_TICKS_PER_SECOND : 0;
}

/** CPU seconds of the process and its descendants; NaN once the process itself has gone. */
export function treeCpuSeconds(pid: number): number {
  if (readText(`/proc/${pid}/stat`) === undefined) return Number.NaN;
  return processTree(pid).reduce((sum, p) => sum + cpuSeconds(p), 0);
}
