// The coordinator's side of a generator worker process: one request at a time per
// id, answered over IPC.
import type { Subprocess } from "bun";
import type { Agent, AgentReply, AgentRequest } from "./agent.ts";
import type { WorkerAnswer, WorkerEnvelope } from "./agent-worker.ts";
import { trackChild, untrackChild } from "./children.ts";

const WORKER_ENTRY = new URL("./agent-worker.ts", import.meta.url).pathname;

interface Pending {
  resolve: (reply: unknown) => void;
  reject: (error: Error) => void;
}

export class WorkerAgent implements Agent {
  private readonly child: Subprocess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor() {
    this.child = Bun.spawn([process.execPath, WORKER_ENTRY], {
      stdio: ["ignore", "inherit", "inherit"],
      ipc: (message: WorkerAnswer) => this.onAnswer(message),
      onExit: (_proc, code) => this.failAll(new Error(`generator worker exited (code ${code})`)),
    });
    trackChild(this.child);
  }

  request<R extends AgentRequest>(request: R): Promise<AgentReply<R>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (reply: unknown) => void, reject });
      const envelope: WorkerEnvelope = { id, request };
      this.child.send(envelope);
    });
  }

  dispose(): void {
    this.child.kill("SIGKILL");
    untrackChild(this.child);
  }

  private onAnswer(answer: WorkerAnswer): void {
    const pending = this.pending.get(answer.id);
    if (pending === undefined) return;
    this.pending.delete(answer.id);
    if (answer.ok) pending.resolve(answer.reply);
    else pending.reject(new Error(`generator worker: ${answer.error}`));
  }

  private failAll(error: Error): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}
