// The machine a run happened on, printed with every report: figures from a noisy
// 2-core VM and a quiet workstation are not the same figures.
import { cpus, release, totalmem } from "node:os";
import { readFileSync } from "node:fs";
import type { MachineInfo } from "./report.ts";

function nodeVersion(): string {
  try {
    return Bun.spawnSync(["node", "--version"], { stdout: "pipe", timeout: 5000 }).stdout.toString().trim() || "not found";
  } catch {
    return "not found";
  }
}

function openFilesLimit(): string {
  try {
    const limits = readFileSync("/proc/self/limits", "utf8");
    const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
    return match ? `${match[1]} soft / ${match[2]} hard` : "unknown";
  } catch {
    return "unknown";
  }
}

export function describeMachine(): MachineInfo {
  const cpuList = cpus();
  return {
    cpu: cpuList[0]?.model.trim() ?? "unknown",
    cores: cpuList.length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    bun: Bun.version,
    node: nodeVersion(),
    openFilesLimit: openFilesLimit(),
  };
}
