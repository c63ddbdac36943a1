// CLI clients that keep typing while the server restarts or their connection is cut:
// afterwards each has seen every message exactly once, in id order, and every line
// it sent is stored exactly once.
import { afterAll, afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { MessageFrame, ServerFrame } from "../../src/protocol.ts";
import { cleanup, LineCollector, ROOT, startProxy, startServer, TestClient, tracked } from "../helpers.ts";
import { startRefusedRejoinServer } from "../refused-rejoin-server.ts";

setDefaultTimeout(60_000);
const dir = mkdtempSync(path.join(tmpdir(), "chat-reconnect-"));
afterEach(cleanup);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NAMES = ["ann", "ben"];
const LINES = 40;

function cliClient(url: string, name: string) {
  const proc = tracked(Bun.spawn(["bun", "src/client.ts", url, "--name", name], { cwd: ROOT, stdin: "pipe", stdout: "pipe", stderr: "pipe" }));
  // Every line the test types is remembered, to check it is stored exactly once.
  const typed: string[] = [];
  const type = (line: string) => {
    typed.push(line);
    proc.stdin.write(`${line}\n`);
    proc.stdin.flush();
  };
  return { name, proc, typed, type, out: new LineCollector(proc.stdout), err: new LineCollector(proc.stderr) };
}

/**
 * A server that holds users for 30 s, a CLI connected to it through a proxy the test
 * can cut, and another user connected directly, both welcomed.
 */
async function cliBehindProxy(otherName: string, cliName: string) {
  const server = await startServer(["--grace", "30"]);
  const proxy = await startProxy(server.port);
  const other = await TestClient.connect(`${server.url}/?name=${otherName}`);
  await other.welcome();
  const client = cliClient(`ws://127.0.0.1:${proxy.port}`, cliName);
  await client.out.waitFor("Welcome");
  return { server, proxy, other, client };
}

/** The ids of the messages a `--json` CLI printed, in the order printed (history frames' in theirs). */
function printedIds(lines: readonly string[]): number[] {
  const printed: number[] = [];
  for (const line of lines) {
    const frame = JSON.parse(line) as { type: string; id?: number; messages?: MessageFrame[] };
    if (frame.type === "history") printed.push(...frame.messages!.map((m) => m.id));
    if (frame.type === "message") printed.push(frame.id!);
  }
  return printed;
}

/** Every message of a room, read through the history frame, in id order. */
async function storedMessages(url: string, room = "lobby"): Promise<MessageFrame[]> {
  const reader = await TestClient.connect(url);
  reader.send(JSON.stringify({ type: "history", room, limit: 500, ref: "all" }));
  await reader.next((f) => f.type === "ack" && f.ref === "all");
  const history = reader.ofType("history").filter((h) => h.room === room).at(-1)!;
  reader.close();
  return history.messages;
}

/**
 * Types LINES lines into each client, 25 ms apart, and runs each disruption once
 * a given line number is reached (it may type on meanwhile through `typeLine`).
 */
async function typeThrough(clients: ReturnType<typeof cliClient>[], disruptions: Record<number, () => Promise<void>>) {
  for (let i = 0; i < LINES; i++) {
    await disruptions[i]?.();
    for (const client of clients) client.type(`${client.name}-${i}`);
    await Bun.sleep(25);
  }
  for (const client of clients) client.proc.stdin.end();
}

async function checkExactlyOnce(url: string, clients: ReturnType<typeof cliClient>[]) {
  for (const client of clients) {
    const code = await client.proc.exited;
    if (code !== 0) throw new Error(`${client.name} exited ${code}\nstdout:\n${client.out.text()}\nstderr:\n${client.err.text()}`);
  }
  const stored = (await storedMessages(url)).filter((m) => /^(ann|ben)-/.test(m.content));
  const contents = stored.map((m) => m.content);
  // Every line sent is stored exactly once.
  const sent = clients.flatMap((client) => client.typed);
  for (const line of sent) expect(contents.filter((c) => c === line)).toHaveLength(1);
  expect(contents.length).toBe(sent.length);
  // And in the order each client typed them.
  for (const client of clients) expect(contents.filter((c) => client.typed.includes(c))).toEqual(client.typed);
  // Each client showed each of its own lines once, and everything it showed is in id order.
  for (const client of clients) {
    await client.out.done;
    const shown = client.out.lines.map((line) => /: ((?:ann|ben)-\S+)$/.exec(line)?.[1]).filter((c) => c !== undefined);
    expect(new Set(shown).size).toBe(shown.length);
    for (const line of client.typed) expect(shown).toContain(line);
    const order = shown.map((c) => contents.indexOf(c));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  }
}

test("clients keep sending while the server is killed and restarted: nothing lost, nothing doubled, nothing reordered", async () => {
  const db = path.join(dir, "restart.db");
  const first = await startServer(["--db", db, "--grace", "30"]);
  const port = String(first.port);
  const clients = NAMES.map((name) => cliClient(first.url, name));
  for (const client of clients) await client.out.waitFor("Welcome");
  let second: Awaited<ReturnType<typeof startServer>> | undefined;
  await typeThrough(clients, {
    [LINES / 4]: async () => {
      // SIGKILL: no goodbye, acks in flight are lost, lines keep coming while it is down.
      first.proc.kill("SIGKILL");
      await first.proc.exited;
      for (const client of clients) client.type(`${client.name}-offline`);
      await Bun.sleep(300);
      second = await startServer(["--db", db, "--grace", "30", "--port", port]);
    },
  });
  for (const client of clients) await client.out.waitFor("Reconnected to WebSocket server", 15_000);
  await checkExactlyOnce(second!.url, clients);
});

test("a script faster than the server's rate limit, across a restart: every line stored once and in order", async () => {
  // The resends and re-joins after the restart, on top of a full burst, used to go
  // past the server's limit: refused lines were sent again a second later, after
  // lines typed behind them.
  const db = path.join(dir, "paced.db");
  const limits = ["--rate", "20", "--burst", "10"];
  const first = await startServer(["--db", db, "--grace", "30", ...limits]);
  const port = String(first.port);
  const lines = Array.from({ length: 80 }, (_, i) => `fast-${i}`);
  const proc = tracked(Bun.spawn(["bun", "src/client.ts", first.url, "--name", "fast"], { cwd: ROOT, stdin: "pipe", stdout: "pipe", stderr: "pipe" }));
  const out = new LineCollector(proc.stdout);
  const err = new LineCollector(proc.stderr);
  proc.stdin.write(`/join #ra\n/join #rb\n${lines.join("\n")}\n`);
  proc.stdin.end();
  await out.waitFor("(you): fast-15", 10_000);
  first.proc.kill("SIGKILL");
  await first.proc.exited;
  await Bun.sleep(300);
  const second = await startServer(["--db", db, "--grace", "30", "--port", port, ...limits]);
  const code = await proc.exited;
  if (code !== 0) throw new Error(`client exited ${code}\nstdout:\n${out.text()}\nstderr:\n${err.text()}`);
  const stored = (await storedMessages(`${second.url}/?room=rb`, "rb")).map((m) => m.content);
  expect(stored).toEqual(lines);
  expect(out.text() + err.text()).not.toContain("slow down");
});

test("clients keep sending while their own connections are cut: nothing lost, nothing doubled", async () => {
  const server = await startServer(["--grace", "30"]);
  const proxy = await startProxy(server.port);
  const clients = NAMES.map((name) => cliClient(`ws://127.0.0.1:${proxy.port}`, name));
  for (const client of clients) await client.out.waitFor("Welcome");
  const typeWhileStalled = async (direction: "up" | "down") => {
    // Start from a live, settled connection: every client has seen its last line.
    for (const client of clients) await client.out.waitFor(`(you): ${client.typed.at(-1)}`, 10_000);
    proxy.stall(direction);
    // Lines typed now are sent into the void (up: the server never gets them) or
    // stored without the ack getting back (down): only a resend with the same ref saves them.
    for (let i = 0; i < 5; i++) {
      for (const client of clients) client.type(`${client.name}-${direction}${i}`);
      await Bun.sleep(30);
    }
    proxy.cut();
  };
  await typeThrough(clients, {
    [LINES / 4]: () => typeWhileStalled("up"),
    [LINES / 2]: () => typeWhileStalled("down"),
  });
  for (const client of clients) await client.out.waitFor("Reconnected to WebSocket server", 15_000);
  await checkExactlyOnce(server.url, clients);
});

test("a dropped connection shows a reconnecting status line with the delay and the attempt", async () => {
  const server = await startServer();
  const proxy = await startProxy(server.port);
  const client = cliClient(`ws://127.0.0.1:${proxy.port}`, "status");
  await client.out.waitFor("Welcome");
  proxy.cut();
  expect(await client.out.waitFor("reconnecting")).toMatch(/^Connection lost \(\d+\); reconnecting in \d+\.\d s, attempt 1$/);
  await client.out.waitFor("Reconnected to WebSocket server", 10_000);
  client.proc.stdin.end();
  expect(await client.proc.exited).toBe(0);
});

test("--retry waits for a server that is not up yet", async () => {
  // Find a free port, then start the client before anything listens there.
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  const proc = tracked(Bun.spawn(["bun", "src/client.ts", `ws://127.0.0.1:${port}`, "--retry"], { cwd: ROOT, stdin: "pipe", stdout: "pipe", stderr: "pipe" }));
  const out = new LineCollector(proc.stdout);
  expect(await out.waitFor("trying again", 5000)).toMatch(new RegExp(`^Could not connect to ws://127\\.0\\.0\\.1:${port}; trying again in \\d+\\.\\d s, attempt 1$`));
  await startServer(["--port", String(port)]);
  await out.waitFor("Welcome", 15_000);
  proc.stdin.write("made it\n");
  proc.stdin.end();
  expect(await proc.exited).toBe(0);
  expect(out.text()).toMatch(/\(you\): made it/);
});

test("--json: after a reconnect each message is printed once, and messages missed meanwhile once too", async () => {
  const server = await startServer(["--grace", "30"]);
  const proxy = await startProxy(server.port);
  const writer = await TestClient.connect(`${server.url}/?name=writer`);
  await writer.welcome();
  const sendAll = async (from: number, to: number) => {
    for (let i = from; i <= to; i++) writer.send(JSON.stringify({ type: "message", content: `m${i}`, ref: `r${i}` }));
    await writer.next((f) => f.type === "ack" && f.ref === `r${to}`);
  };
  await sendAll(1, 5);
  const proc = tracked(Bun.spawn(["bun", "src/client.ts", `ws://127.0.0.1:${proxy.port}`, "--json", "--name", "jay"], {
    cwd: ROOT, stdin: "pipe", stdout: "pipe", stderr: "pipe",
  }));
  const out = new LineCollector(proc.stdout);
  const err = new LineCollector(proc.stderr);
  await out.waitFor('"type":"history"');
  proxy.cut();
  await sendAll(6, 8); // while jay is away
  await err.waitFor("Reconnected to WebSocket server", 10_000);
  await out.waitFor('"content":"m8"', 10_000);
  proc.stdin.end();
  expect(await proc.exited).toBe(0);
  // Before this was fixed, the re-join asked for everything (since 0) and 1..5 came twice.
  expect(printedIds(out.lines)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  writer.close();
});

test("a connection the server still thinks live: the CLI comes back to its own rooms, with no noise", async () => {
  // The network died without a word: the server holds the old connection (until its
  // heartbeat notices), so the session's user is live when the client comes back.
  const { server, proxy, other: watcher, client } = await cliBehindProxy("watcher", "kit");
  await watcher.next((f) => f.type === "system" && f.event === "join" && f.name === "kit");
  client.proc.stdin.write("/join dev\n/leave lobby\n");
  await watcher.next((f) => f.type === "system" && f.event === "leave" && f.name === "kit");
  proxy.abandon();
  await client.out.waitFor("Reconnected to WebSocket server", 10_000);
  expect(await client.out.waitFor("Welcome back")).toMatch(/Welcome back, kit! You are in #dev\.$/);
  const dev = await TestClient.connect(`${server.url}/?name=reader&room=dev`);
  client.type("back in dev");
  await dev.next((f) => f.type === "message" && f.content === "back in dev", 10_000).catch((e) => {
    throw new Error(`${e}\n${client.out.text()}\n${client.err.text()}\n${JSON.stringify(watcher.frames)}`);
  });
  client.proc.stdin.end();
  expect(await client.proc.exited).toBe(0);
  // #lobby, which kit had left, never heard of it again.
  watcher.send(JSON.stringify({ type: "who", room: "lobby", ref: "who" }));
  const who = await watcher.next<Extract<ServerFrame, { type: "presence" }>>((f) => f.type === "presence");
  expect(who.users.map((u) => u.name)).toEqual(["watcher"]);
  expect(watcher.frames.filter((f) => f.type === "system" && f.event === "join" && f.name === "kit")).toHaveLength(1);
});

test("more missed than a join replays: the gap says the rest are stored, and /history brings them", async () => {
  const { server, proxy, other: writer, client } = await cliBehindProxy("writer", "late");
  writer.send(JSON.stringify({ type: "message", content: "m0", ref: "r0" }));
  await client.out.waitFor("writer: m0");
  proxy.cut();
  for (let i = 1; i <= 1100; i++) writer.send(JSON.stringify({ type: "message", content: `m${i}`, ref: `r${i}` }));
  await writer.next((f) => f.type === "ack" && f.ref === "r1100", 10_000);
  await client.out.waitFor("writer: m1100", 15_000);
  expect(client.out.text()).toContain("100 earlier message(s) in #lobby were not replayed (a join replays the newest 1000): /history shows them");
  expect(client.out.text()).not.toContain("writer: m100\n");
  client.type("/history 100");
  await client.out.waitFor(/writer: m100$/, 5000);
  const shown = client.out.lines.map((line) => /writer: (m\d+)$/.exec(line)?.[1]).filter((m) => m !== undefined);
  // m0, the replay m101..m1100, then the page m1..m100: each once.
  expect(new Set(shown).size).toBe(shown.length);
  expect(shown).toHaveLength(1101);
  client.proc.stdin.end();
  expect(await client.proc.exited).toBe(0);
  writer.close();
});

test("the CLI: a re-join refused for now keeps its replay open, so a live message before its answer is printed after the replay", async () => {
  const server = startRefusedRejoinServer(100);
  try {
    const proc = tracked(Bun.spawn(["bun", "src/client.ts", `ws://127.0.0.1:${server.port}`, "--json"], { cwd: ROOT, stdin: "pipe", stdout: "pipe", stderr: "pipe" }));
    const out = new LineCollector(proc.stdout);
    const err = new LineCollector(proc.stderr);
    await err.waitFor("Reconnected to WebSocket server", 10_000);
    // m5 is printed last when the fix holds; without it, first (and the replay is lost).
    await out.waitFor('"content":"m5"', 10_000);
    await Bun.sleep(300);
    proc.stdin.end();
    expect(await proc.exited).toBe(0);
    expect(server.joins).toEqual([1, 1]);
    expect(printedIds(out.lines)).toEqual([1, 2, 3, 4, 5]);
  } finally {
    server.stop();
  }
});
