// `bun run build`: the single-file executables work on their own, outside the
// repository: the server serves the chat and the browser page, the client talks to it.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Subprocess } from "bun";
import { cleanup, LineCollector, runCommand, TestClient } from "../helpers.ts";

// Compiling copies the Bun runtime into each binary: seconds, more on a busy machine.
setDefaultTimeout(120_000);

const dir = mkdtempSync(path.join(tmpdir(), "chat-binaries-"));
let server: Subprocess<"ignore", "pipe", "pipe"> | undefined;
let port: number;
let serverLog: LineCollector;

beforeAll(async () => {
  const build = await runCommand(["bun", "run", "build", dir], { timeoutMs: 110_000 });
  if (build.code !== 0) throw new Error(`bun run build exited ${build.code}\n${build.stdout}\n${build.stderr}`);
  // Run from a folder with nothing of the project in it: all it needs is inside.
  server = Bun.spawn([path.join(dir, "chat-server"), "--port", "0", "--host", "127.0.0.1", "--db", path.join(dir, "chat.db"), "--grace", "0"], {
    cwd: dir,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const stdout = new LineCollector(server.stdout);
  const stderr = (serverLog = new LineCollector(server.stderr));
  const line = await stdout.waitFor(/WebSocket server is listening on port \d+/, 10_000).catch((error: Error) => {
    throw new Error(`${error.message}\nstderr:\n${stderr.text()}`);
  });
  port = Number(/(\d+)$/.exec(line)![1]);
});

afterAll(async () => {
  server?.kill("SIGKILL");
  await server?.exited;
  await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test("bun run build compiles a server binary and a client binary", () => {
  for (const name of ["chat-server", "chat"]) expect(existsSync(path.join(dir, name))).toBe(true);
});

test("the client binary sends a piped line through the server binary", async () => {
  const watcher = await TestClient.connect(`ws://127.0.0.1:${port}/?name=watcher`);
  await watcher.welcome();
  const result = await runCommand([path.join(dir, "chat"), `ws://127.0.0.1:${port}`, "--name", "binary"], { stdin: "hello from a binary\n" });
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/^\d\d:\d\d:\d\d binary \(you\): hello from a binary$/m);
  const message = await watcher.next((f) => f.type === "message" && f.content === "hello from a binary");
  expect(message).toMatchObject({ name: "binary", room: "lobby" });
  watcher.close();
});

test("the server binary's checkpointer (a worker embedded in it) copies the WAL into the database file", async () => {
  const sender = await TestClient.connect(`ws://127.0.0.1:${port}/?name=writer`);
  await sender.welcome();
  sender.send(JSON.stringify({ type: "message", room: "lobby", content: "into the database", ref: "w1" }));
  await sender.next((f) => f.type === "ack" && f.ref === "w1");
  sender.close();
  // Until a checkpoint copies the WAL's pages into it, the database file is its first page
  // alone (the tables were made in the WAL, and SQLite's own checkpoints are off).
  const pages = () => statSync(path.join(dir, "chat.db")).size / 4096;
  for (let i = 0; i < 100 && pages() <= 1; i++) await Bun.sleep(50);
  expect(pages()).toBeGreaterThan(1);
  expect(serverLog.text()).not.toContain("history_checkpointer_stopped");
});

test("the server binary serves the browser page and its script from inside itself", async () => {
  const response = await fetch(`http://127.0.0.1:${port}/`);
  expect(response.status).toBe(200);
  const html = await response.text();
  expect(html).toContain("<title>bun-chat</title>");
  const script = /<script[^>]*src="(\/[^"]+\.js)"/.exec(html)?.[1];
  expect(script).toBeDefined();
  const js = await fetch(`http://127.0.0.1:${port}${script}`);
  expect(js.status).toBe(200);
  expect(js.headers.get("content-type")).toContain("javascript");
  // The page's own code (session.ts), bundled at build time.
  expect(await js.text()).toContain("Reconnected to WebSocket server");
  const css = /<link[^>]*href="(\/[^"]+\.css)"/.exec(html)?.[1];
  expect((await fetch(`http://127.0.0.1:${port}${css}`)).status).toBe(200);
  expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
});
