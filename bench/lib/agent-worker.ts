// Entry of a generator worker process (--processes N): serves agent requests from
// the coordinator over Bun's IPC channel until told to close or orphaned.
import { AgentHandler, type AgentRequest } from "./agent.ts";

export interface WorkerEnvelope {
  id: number;
  request: AgentRequest;
}

export type WorkerAnswer = { id: number; ok: true; reply: unknown } | { id: number; ok: false; error: string };

const handler = new AgentHandler();

process.on("message", async (message: WorkerEnvelope) => {
  let answer: WorkerAnswer;
  try {
    answer = { id: message.id, ok: true, reply: await handler.handle(message.request) };
  } catch (error) {
    answer = { id: message.id, ok: false, error: error instanceof Error ? error.message : String(error) };
  }
  process.send?.(answer);
});

// The coordinator going away closes the channel; a worker must not outlive it.
process.on("disconnect", () => process.exit(0));
