// An agent is one generator process's share of the clients, driven by requests.
// The coordinator speaks the same requests to an in-process agent (--processes 1)
// and to worker processes over IPC, so scenarios never know how the load is split.
import {
  ClientPool,
  type ConnectResult,
  type Counts,
  type OpenLoopPlan,
  type OpenLoopResult,
  type RoundResult,
} from "./client-pool.ts";
import { Flooder, type FloodPlan, type FloodResult } from "./flooder.ts";
import type { Layout } from "./layout.ts";

export type AgentRequest =
  | { op: "setup"; layout: Layout; first: number; count: number }
  | { op: "connect"; urls: string[]; batch: number; timeoutMs: number; share?: number }
  | { op: "counts" }
  | { op: "reset"; recordLatency: boolean }
  | { op: "round"; round: number; perClient: number; timeoutMs: number }
  | { op: "send-one"; client: number }
  | { op: "open-loop"; plan: OpenLoopPlan }
  | { op: "latencies" }
  | { op: "cpu" }
  | { op: "flood-connect"; url: string; timeoutMs: number }
  | { op: "flood"; plan: FloodPlan }
  | { op: "close" };

interface AgentReplies {
  setup: null;
  connect: ConnectResult;
  counts: Counts;
  reset: null;
  round: RoundResult;
  "send-one": boolean;
  "open-loop": OpenLoopResult;
  latencies: number[];
  cpu: NodeJS.CpuUsage;
  /** null once open, else why it did not open. */
  "flood-connect": string | null;
  flood: FloodResult;
  close: null;
}

export type AgentReply<R extends AgentRequest> = AgentReplies[R["op"]];

export interface Agent {
  request<R extends AgentRequest>(request: R): Promise<AgentReply<R>>;
  /** Ends the agent for good; for a worker, its process. */
  dispose(): void;
}

/** Executes requests against the pool of the process it runs in. */
export class AgentHandler {
  private pool: ClientPool | undefined;
  /** The flood scenario's flooder, in an agent of its own that holds no pool. */
  private flooder: Flooder | undefined;

  async handle(request: AgentRequest): Promise<unknown> {
    switch (request.op) {
      case "setup":
        this.pool?.close();
        this.pool = new ClientPool(request.layout, request.first, request.count);
        return null;
      case "connect":
        return this.requirePool().connect(request.urls, request.batch, request.timeoutMs, request.share);
      case "counts":
        return this.requirePool().getCounts();
      case "reset":
        this.requirePool().reset(request.recordLatency);
        return null;
      case "round":
        return this.requirePool().round(request.round, request.perClient, request.timeoutMs);
      case "send-one":
        return this.requirePool().sendOne(request.client);
      case "open-loop":
        return this.requirePool().openLoop(request.plan);
      case "latencies":
        return this.requirePool().takeLatencies();
      case "cpu":
        return process.cpuUsage();
      case "flood-connect":
        this.flooder?.close();
        this.flooder = new Flooder();
        return this.flooder.connect(request.url, request.timeoutMs);
      case "flood":
        if (this.flooder === undefined) throw new Error("flood before flood-connect");
        return this.flooder.flood(request.plan);
      case "close":
        this.pool?.close();
        this.pool = undefined;
        this.flooder?.close();
        this.flooder = undefined;
        return null;
      default:
        return assertNever(request);
    }
  }

  private requirePool(): ClientPool {
    if (this.pool === undefined) throw new Error("agent used before setup");
    return this.pool;
  }
}

/** The agent for --processes 1: the clients live in the coordinator itself. */
export class LocalAgent implements Agent {
  private readonly handler = new AgentHandler();

  request<R extends AgentRequest>(request: R): Promise<AgentReply<R>> {
    return this.handler.handle(request) as Promise<AgentReply<R>>;
  }

  dispose(): void {
    void this.handler.handle({ op: "close" });
  }
}

function assertNever(value: never): never {
  throw new Error(`unknown agent request ${JSON.stringify(value)}`);
}
