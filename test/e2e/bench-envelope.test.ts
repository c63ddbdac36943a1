// The bench's envelope baseline stands for "the protocol's message frame and nothing
// else": it is only a fair floor if it sends what ours sends for the same line, field
// for field and byte for byte in size. Checked against a real ours.
import { afterAll, expect, test } from "bun:test";
import { readBenchOptions } from "../../bench/lib/options.ts";
import { serverSpecs } from "../../bench/lib/servers.ts";
import { cleanup, LineCollector, ROOT, startServer, tracked } from "../helpers.ts";

afterAll(cleanup);

/** The first text frame whose type is "message", as the raw text the server sent. */
async function firstMessageFrame(url: string, line: string): Promise<string> {
  const ws = new WebSocket(url);
  try {
    const found = new Promise<string>((resolve, reject) => {
      ws.addEventListener("message", (event) => {
        const text = String(event.data);
        if ((JSON.parse(text) as { type?: string }).type === "message") resolve(text);
      });
      ws.addEventListener("close", () => reject(new Error(`${url} closed before a message frame`)));
      setTimeout(() => reject(new Error(`no message frame from ${url} within 5 s`)), 5_000);
    });
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve());
      ws.addEventListener("error", () => reject(new Error(`could not connect to ${url}`)));
    });
    ws.send(line);
    return await found;
  } finally {
    ws.close();
  }
}

async function startEnvelope(): Promise<string> {
  const proc = tracked(
    Bun.spawn([process.execPath, "bench/servers/ceiling.ts", "--port", "0", "--envelope"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" }),
  );
  const line = await new LineCollector(proc.stdout).waitFor(/listening on port \d+/, 10_000);
  return `ws://127.0.0.1:${/(\d+)$/.exec(line)![1]}`;
}

test("the envelope baseline sends the message frame ours sends: same fields, same order, same size", async () => {
  const line = 'a line with "quotes", a \\ and ünïcödé ~b|0|1|2|3|';
  const ours = await startServer();
  const fromOurs = JSON.parse(await firstMessageFrame(ours.url, line)) as Record<string, unknown>;
  const rawEnvelope = await firstMessageFrame(await startEnvelope(), line);
  const fromEnvelope = JSON.parse(rawEnvelope) as Record<string, unknown>;

  expect(Object.keys(fromEnvelope)).toEqual(Object.keys(fromOurs));
  expect(fromEnvelope).toMatchObject({ type: "message", id: 1, room: "lobby", content: line });
  expect(fromEnvelope.userId).toMatch(/^User-[0-9a-z]{5}$/);
  expect(fromEnvelope.name).toBe(fromEnvelope.userId);
  expect(new Date(String(fromEnvelope.timestamp)).toISOString()).toBe(String(fromEnvelope.timestamp));
  // Ours' first message in a fresh room is id 1 too, and its default name is its userId.
  expect(rawEnvelope.length).toBe(JSON.stringify(fromOurs).length);
});

test("--servers envelope runs the ceiling with --envelope", () => {
  const options = readBenchOptions(["--servers", "ours,ceiling,ours-memory,envelope"]);
  const envelope = serverSpecs(options).find((s) => s.name === "envelope");
  expect(envelope?.argv.slice(1)).toEqual([`${ROOT}/bench/servers/ceiling.ts`, "--port", "0", "--envelope"]);
});
