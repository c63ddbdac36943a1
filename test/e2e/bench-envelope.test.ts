// The bench's envelope baseline stands for "the protocol's frames and nothing else":
// it is only a fair floor if it sends what ours sends for the same line and the same
// connection, field for field and byte for byte in size. Checked against a real ours.
import { afterAll, expect, test } from "bun:test";
import { readBenchOptions } from "../../bench/lib/options.ts";
import { serverSpecs } from "../../bench/lib/servers.ts";
import type { ServerFrame } from "../../src/protocol.ts";
import { cleanup, LineCollector, maskedFrame, ROOT, startServer, TestClient, tracked } from "../helpers.ts";

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

const isKind = (kind: string) => (f: ServerFrame) => (f.type === "system" ? `system:${f.event}` : f.type) === kind;

/** What connecting to a fresh server sends: the first client's welcome and history, and the join notice it hears of a second. */
async function connectFrames(url: string): Promise<Record<"welcome" | "history" | "join", ServerFrame>> {
  const first = await TestClient.connect(url);
  const second = await TestClient.connect(url);
  try {
    return { welcome: await first.next(isKind("system:welcome")), history: await first.next(isKind("history")), join: await first.next(isKind("system:join")) };
  } finally {
    first.close();
    second.close();
  }
}

/**
 * Frames that differ only in userId, session secret and timestamp: alike once masked, and
 * the same size (both servers write JSON as JSON.stringify does, so re-serialising the
 * parsed frame gives the length that was sent).
 */
function expectSameShape(envelope: ServerFrame, ours: ServerFrame): void {
  expect(maskedFrame(envelope)).toEqual(maskedFrame(ours));
  expect(JSON.stringify(envelope).length).toBe(JSON.stringify(ours).length);
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

test("the envelope baseline sends what connecting to ours sends: welcome, history, join notice", async () => {
  // Ours as the bench runs it: the welcome's limits are the lifted ones (bench/lib/servers.ts).
  const ours = await connectFrames((await startServer(["--rate", "1000000", "--burst", "1000000"])).url);
  const envelope = await connectFrames(await startEnvelope());
  for (const kind of ["welcome", "history", "join"] as const) expectSameShape(envelope[kind], ours[kind]);
  expect(envelope.history).toMatchObject({ messages: [], complete: true });
});

test("the envelope's history frame is the room's last 50 messages, as ours' is", async () => {
  const url = await startEnvelope();
  const sender = await TestClient.connect(url);
  for (let i = 1; i <= 60; i++) sender.send(`line ${i}`);
  await sender.next(() => sender.ofType("message").length === 60);
  const late = await TestClient.connect(url);
  const history = await late.next<Extract<ServerFrame, { type: "history" }>>(isKind("history"));
  late.close();
  sender.close();
  expect(history.messages.map((m) => m.id)).toEqual(Array.from({ length: 50 }, (_, i) => i + 11));
  expect(history.messages.at(-1)?.content).toBe("line 60");
  expect(history.complete).toBe(false);
});
