// The CLI client as a user runs it: piped stdin, --json, failures, and a real
// terminal under tmux.
import { setDefaultTimeout, afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ServerFrame } from "../../src/protocol.ts";
import { PROMPT } from "../../src/client/run-client.ts";
import { cleanup, LineCollector, ROOT, runCommand, startServer, TestClient, type ServerProcess, tracked } from "../helpers.ts";

// These tests start real processes; a loaded CI machine needs more than 5 s now and then.
setDefaultTimeout(20_000);

const CLIENT = ["bun", "src/client.ts"];
const BANNER = [
  "WebSocket Client",
  "----------------",
  "Type your message and press Enter to send",
  'Type "exit" to quit',
  "Press Ctrl+C to quit",
];
// Any ANSI escape or other control character except newline.
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer();
});
afterAll(cleanup);

describe("piped stdin", () => {
  test("prints the plain banner, sends every line and exits 0 once each is acknowledged", async () => {
    const result = await runCommand([...CLIENT, server.url, "--name", "piper"], { stdin: "first line\nsecond line\n" });
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines.slice(0, 7)).toEqual([`Connecting to ${server.url}...`, ...BANNER, "Connected to WebSocket server"]);
    expect(result.stdout).toMatch(/^\d\d:\d\d:\d\d piper \(you\): first line$/m);
    expect(result.stdout).toMatch(/^\d\d:\d\d:\d\d piper \(you\): second line$/m);
    expect(result.stdout).not.toContain("Enter message");
    expect(result.stdout).not.toMatch(CONTROL);
  });

  test("lines reach other clients in order", async () => {
    const watcher = await TestClient.connect(server.url);
    await watcher.welcome();
    const lines = Array.from({ length: 20 }, (_, i) => `ordered ${i}`);
    const result = await runCommand([...CLIENT, server.url], { stdin: `${lines.join("\n")}\n` });
    expect(result.code).toBe(0);
    const seen = await watcher.next((f) => f.type === "message" && f.content === "ordered 19").then(() =>
      watcher.ofType("message").map((f) => f.content),
    );
    expect(seen.filter((c) => c.startsWith("ordered "))).toEqual(lines);
    watcher.close();
  });

  test("--json prints one server frame per line on stdout and the status lines on stderr", async () => {
    const result = await runCommand([...CLIENT, "--url", server.url, "--json"], { stdin: "as json\n" });
    expect(result.code).toBe(0);
    const frames = result.stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as ServerFrame);
    expect(frames[0]).toMatchObject({ type: "system", event: "welcome" });
    expect(frames).toContainEqual(expect.objectContaining({ type: "message", content: "as json" }));
    expect(frames).toContainEqual(expect.objectContaining({ type: "ack", ref: expect.stringMatching(/^c[0-9a-z]{6}-1$/) }));
    expect(result.stderr).toContain(`Connecting to ${server.url}...`);
  });

  test('a line "exit" quits with 0 and nothing after it is sent', async () => {
    const watcher = await TestClient.connect(server.url);
    const result = await runCommand([...CLIENT, server.url], { stdin: "before exit\nexit\nafter exit\n" });
    expect(result.code).toBe(0);
    await watcher.next((f) => f.type === "message" && f.content === "before exit");
    await Bun.sleep(100);
    expect(watcher.ofType("message").some((f) => f.content === "after exit")).toBe(false);
    watcher.close();
  });

  test("a client that quits is gone at once: its leave is announced and its name is free again", async () => {
    const held = await startServer(["--grace", "30"]);
    const watcher = await TestClient.connect(`${held.url}/?name=watcher-q`);
    await watcher.welcome();
    const first = await runCommand([...CLIENT, held.url, "--name", "dave"], { stdin: "hello\nexit\n" });
    expect(first.code).toBe(0);
    // Not held for the grace period (30 s here) as a dropped connection is.
    await watcher.next((f) => f.type === "system" && f.event === "leave" && f.name === "dave", 2000);
    const again = await runCommand([...CLIENT, held.url, "--name", "dave"], { stdin: "again\n" });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("Welcome, dave!");
    watcher.close();
  });

  test("a line the server refuses is shown as an error and the exit code is 1", async () => {
    const result = await runCommand([...CLIENT, server.url], { stdin: "/msg nobody-here hello\nfine\n" });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/error \[no_such_user\]: nobody called 'nobody-here' is connected/);
    expect(result.stdout).toMatch(/\(you\): fine$/m);
  });

  test("a line longer than the server takes is not sent, even one past its frame limit, and what follows is", async () => {
    // Over 64 KiB a frame costs the connection (1009); sent again after each reconnect, for ever.
    const result = await runCommand([...CLIENT, server.url], { stdin: `${"x".repeat(70_000)}\n${"y".repeat(5000)}\nfine\n` });
    expect(result.code).toBe(1);
    const output = result.stdout + result.stderr;
    expect(output).toContain("the message is 70000 bytes, more than the server takes (4096): not sent");
    expect(output).toContain("the message is 5000 bytes, more than the server takes (4096): not sent");
    expect(result.stdout).toMatch(/\(you\): fine$/m);
    expect(output).not.toContain("Connection lost");
  });

  test("a line whose frame would pass the server's frame limit is not sent: a long /msg name, or content the server allows", async () => {
    const roomy = await startServer(["--max-content", "200000"]);
    const result = await runCommand([...CLIENT, roomy.url], { stdin: `/msg ${"x".repeat(70_000)} hi\n${"y".repeat(70_000)}\nfine\n` });
    expect(result.code).toBe(1);
    const output = result.stdout + result.stderr;
    expect(output.match(/the line is too long to send \(\d+ bytes as a frame; the server takes 65536\): not sent/g)).toHaveLength(2);
    expect(result.stdout).toMatch(/\(you\): fine$/m);
    expect(output).not.toContain("Connection lost");
  });

  test("hostile text from another user is shown escaped, never interpreted", async () => {
    const listener = tracked(Bun.spawn([...CLIENT, server.url], { cwd: ROOT, stdin: "pipe", stdout: "pipe", stderr: "pipe" }));
    const out = new LineCollector(listener.stdout);
    await out.waitFor("Connected to WebSocket server");
    const attacker = await TestClient.connect(`${server.url}/?name=mallory`);
    attacker.send("\x1b[2J\x1b]0;pwned\x07\u202eevil");
    const line = await out.waitFor("mallory:");
    expect(line).toContain("\\x1b[2J\\x1b]0;pwned\\x07\\u202eevil");
    expect(line).not.toMatch(CONTROL);
    listener.stdin.end();
    expect(await listener.exited).toBe(0);
    attacker.close();
  });
});

describe("failures", () => {
  test("an unreachable server is one line naming the URL and the reason, exit code 1", async () => {
    const result = await runCommand([...CLIENT, "ws://127.0.0.1:1"], { stdin: "" });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe("Could not connect to ws://127.0.0.1:1: connection refused (is the server running?)");
  });

  test("with --no-reconnect, the server going away mid-session is a clear notice and exit code 1", async () => {
    const own = await startServer();
    const client = tracked(Bun.spawn([...CLIENT, own.url, "--no-reconnect"], { cwd: ROOT, stdin: "pipe", stdout: "pipe", stderr: "pipe" }));
    const out = new LineCollector(client.stdout);
    const err = new LineCollector(client.stderr);
    await out.waitFor("Connected to WebSocket server");
    await out.waitFor("Welcome");
    own.proc.kill("SIGTERM");
    expect(await client.exited).toBe(1);
    await out.waitFor("Server is shutting down");
    expect(await err.waitFor("Disconnected")).toBe("Disconnected from server (1001 server shutting down)");
  });

  test.each([
    [["--bogus"], "--bogus"],
    [["--url", "http://example"], "--url"],
    [["ws://a", "ws://b"], "URL"],
    [["--name"], "--name"],
    // Values the server would refuse are refused here, before connecting anywhere.
    [["--name", "bad name"], "--name"],
    [["--name", "User-abc12"], "--name"],
    [["--room", "Bad Room"], "--room"],
  ])("bad arguments %p are one line naming %s and exit code 2", async (args, flag) => {
    const result = await runCommand([...CLIENT, ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain(flag);
  });

  test("--help lists the options and exits 0", async () => {
    const result = await runCommand([...CLIENT, "--help"]);
    expect(result.code).toBe(0);
    for (const flag of ["--url", "--name", "--room", "--json", "--no-color"]) expect(result.stdout).toContain(flag);
  });
});

describe("in a terminal (tmux)", () => {
  // A server of its own: an empty lobby, so no history pushes the banner off the screen.
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer();
  });
  // A tmux server of our own per test, so a user's tmux sessions are never touched.
  let socket = "";
  let uiCount = 0;
  const tmux = (...args: string[]) => Bun.spawnSync(["tmux", "-L", socket, ...args], { cwd: ROOT });
  // capture-pane drops trailing blanks, so the prompt's final space is checked via the cursor.
  const screen = () => tmux("capture-pane", "-p", "-t", "ui").stdout.toString();
  const cursorColumn = () => Number(tmux("display-message", "-p", "-t", "ui", "#{cursor_x}").stdout.toString().trim());
  const waitForScreen = async (match: RegExp, timeoutMs = 8000) => {
    const deadline = Date.now() + timeoutMs;
    while (!match.test(screen())) {
      if (Date.now() > deadline) throw new Error(`screen never matched ${match}:\n${screen()}`);
      await Bun.sleep(50);
    }
    return screen();
  };
  const startUi = (args: string) => {
    if (socket) tmux("kill-server");
    socket = `chat-test-${process.pid}-${++uiCount}`;
    const started = tmux(
      "new-session", "-d", "-s", "ui", "-x", "120", "-y", "30",
      `bun src/client.ts ${args}; echo "EXITED=$?"; sleep 30`,
    );
    expect(started.exitCode).toBe(0);
  };
  afterAll(() => void tmux("kill-server"));

  test("shows the banner and prompt, keeps the partial line under incoming messages, quits on Ctrl+C", async () => {
    startUi(`${server.url} --name tess`);
    await waitForScreen(/Enter message \(or "exit" to quit\):$/m);
    // The original prompt, after your name and current room.
    expect(screen().trimEnd().split("\n").at(-1)).toBe(`[tess #lobby] ${PROMPT.trimEnd()}`);
    expect(cursorColumn()).toBe(`[tess #lobby] ${PROMPT}`.length);
    const top = screen().split("\n");
    expect(top.slice(0, 7)).toEqual([`Connecting to ${server.url}...`, ...BANNER, "Connected to WebSocket server"]);

    tmux("send-keys", "-t", "ui", "-l", "half typed");
    await waitForScreen(/half typed$/m);
    const other = await TestClient.connect(`${server.url}/?name=uma`);
    other.send("interrupting message");
    const during = await waitForScreen(/uma: interrupting message/);
    const lines = during.trimEnd().split("\n");
    expect(lines.at(-1)).toBe(`[tess #lobby] ${PROMPT}half typed`);
    expect(lines.at(-2)).toMatch(/^\d\d:\d\d:\d\d uma: interrupting message$/);

    tmux("send-keys", "-t", "ui", " and sent", "Enter");
    await other.next((f) => f.type === "message" && f.content === "half typed and sent");
    await waitForScreen(/tess \(you\): half typed and sent/);

    tmux("send-keys", "-t", "ui", "C-c");
    await waitForScreen(/EXITED=0/);
    other.close();
  });

  test("messages arriving while the partly typed line wraps onto a second row stay on screen", async () => {
    startUi(`${server.url} --name wren`);
    await waitForScreen(/Enter message \(or "exit" to quit\):$/m);
    // About 50 columns of prompt and 100 typed: two rows of the 120-column terminal.
    tmux("send-keys", "-t", "ui", "-l", "x".repeat(100));
    await waitForScreen(/x{20}$/m);
    const other = await TestClient.connect(`${server.url}/?name=una`);
    for (const text of ["first incoming", "second incoming", "third incoming"]) {
      other.send(text);
      await waitForScreen(new RegExp(`una: ${text}`));
    }
    // Each redraw of the prompt used to wipe the message printed just above it.
    const shown = screen();
    for (const text of ["first incoming", "second incoming", "third incoming"]) expect(shown).toContain(`una: ${text}`);
    expect(shown.replace(/\n/g, "")).toContain(`${PROMPT}${"x".repeat(100)}`);
    tmux("send-keys", "-t", "ui", "C-c");
    await waitForScreen(/EXITED=0/);
    other.close();
  });

  test("suspended with Ctrl+Z and brought back with fg, it reads what is typed again and Ctrl+C still quits", async () => {
    if (socket) tmux("kill-server");
    socket = `chat-test-${process.pid}-${++uiCount}`;
    // A shell with job control, as a person has.
    tmux("new-session", "-d", "-s", "ui", "-x", "120", "-y", "30", "bash --norc --noprofile -i");
    tmux("send-keys", "-t", "ui", `bun src/client.ts ${server.url} --name zoe`, "Enter");
    await waitForScreen(/\[zoe #lobby\] Enter message/);
    tmux("send-keys", "-t", "ui", "-l", "typed bef");
    await waitForScreen(/typed bef$/m);
    tmux("send-keys", "-t", "ui", "C-z");
    await waitForScreen(/Stopped/);
    tmux("send-keys", "-t", "ui", "fg", "Enter");
    tmux("send-keys", "-t", "ui", "ore", "Enter");
    // It used to read nothing more: readline leaves its input paused after SIGCONT.
    await waitForScreen(/zoe \(you\): typed before/);
    tmux("send-keys", "-t", "ui", "C-c");
    // The shell's prompt again, under the client's last one.
    await waitForScreen(/\(you\): typed before\n.*Enter message \(or "exit" to quit\):\s*\n\S*[#$]\s*$/);
    tmux("send-keys", "-t", "ui", 'echo "EXITED=$?"', "Enter");
    await waitForScreen(/EXITED=0/);
  });

  /** A client of `name` whose server has gone away (killed): it is waiting to reconnect. */
  const awayUi = async (name: string) => {
    const own = await startServer();
    startUi(`${own.url} --name ${name}`);
    await waitForScreen(new RegExp(`\\[${name} #lobby\\] Enter message`));
    own.proc.kill("SIGKILL");
    await waitForScreen(/reconnecting in/);
  };

  test('"exit" typed while the server is away quits at once, as Ctrl+D does', async () => {
    await awayUi("ed");
    tmux("send-keys", "-t", "ui", "important message", "Enter");
    tmux("send-keys", "-t", "ui", "exit", "Enter");
    // It used to wait in the input queue for a connection that never came back. What it
    // leaves unsent is said, not dropped silently.
    const shown = await waitForScreen(/EXITED=0/);
    expect(shown).toContain("1 line(s) were not sent: the server is away");
  });

  test("a line typed while the server is away waits, and the prompt comes back for the next", async () => {
    await awayUi("olly");
    tmux("send-keys", "-t", "ui", "typed while away", "Enter");
    tmux("send-keys", "-t", "ui", "-l", "next");
    const shown = await waitForScreen(/next$/m);
    expect(shown.trimEnd().split("\n").at(-1)).toBe(`[olly #lobby] ${PROMPT}next`);
    tmux("send-keys", "-t", "ui", "C-c");
    await waitForScreen(/EXITED=0/);
  });

  test("stdin piped with stdout a terminal: plain lines without colours", async () => {
    if (socket) tmux("kill-server");
    socket = `chat-test-${process.pid}-${++uiCount}`;
    tmux("new-session", "-d", "-s", "ui", "-x", "120", "-y", "30", `printf 'colour check\\n' | bun src/client.ts ${server.url} --name col; echo "EXITED=$?"; sleep 30`);
    await waitForScreen(/EXITED=0/);
    const withEscapes = tmux("capture-pane", "-e", "-p", "-t", "ui").stdout.toString();
    expect(withEscapes).toContain("col (you): colour check");
    expect(withEscapes).not.toContain("\x1b[");
  });

  test('"exit" and Ctrl+D quit with code 0', async () => {
    startUi(server.url);
    await waitForScreen(/Enter message/);
    tmux("send-keys", "-t", "ui", "exit", "Enter");
    await waitForScreen(/EXITED=0/);

    startUi(server.url);
    await waitForScreen(/Enter message/);
    tmux("send-keys", "-t", "ui", "C-d");
    await waitForScreen(/EXITED=0/);
  });
});
