// Slash commands of the CLI client, driven through stdin against a real server.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cleanup, LineCollector, ROOT, runCommand, startServer, TestClient, type ServerProcess, tracked } from "../helpers.ts";

setDefaultTimeout(20_000);

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer();
});
afterAll(cleanup);

/** A CLI client whose stdin stays open, so the test can type into it line by line. */
function liveClient(...args: string[]) {
  const proc = tracked(Bun.spawn(["bun", "src/client.ts", server.url, ...args], {
    cwd: ROOT,
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  }));
  const out = new LineCollector(proc.stdout);
  return {
    proc,
    out,
    type(line: string) {
      proc.stdin.write(`${line}\n`);
      proc.stdin.flush();
    },
    async end() {
      proc.stdin.end();
      return proc.exited;
    },
  };
}

const piped = (stdin: string, ...args: string[]) => runCommand(["bun", "src/client.ts", server.url, ...args], { stdin });

/** Sends `${prefix} 1` … `${prefix} ${count}` to a room and waits until all are stored; the writer stays connected. */
async function storeMessages(room: string, prefix: string, count: number): Promise<TestClient> {
  const writer = await TestClient.connect(`${server.url}/?room=${room}`);
  for (let i = 1; i <= count; i++) writer.send(JSON.stringify({ type: "message", content: `${prefix} ${i}`, ref: `${prefix}${i}` }));
  await writer.next((f) => f.type === "ack" && f.ref === `${prefix}${count}`);
  return writer;
}

describe("slash commands through stdin", () => {
  test("a line piped right after /join goes to the room joined, and after /leave back to the one before", async () => {
    const result = await piped("/join piped-ops\ninto ops\n/leave\nback home\n", "--name", "pia");
    expect(result.code).toBe(0);
    const reader = await TestClient.connect(server.url);
    for (const [room, content] of [["piped-ops", "into ops"], ["lobby", "back home"]] as const) {
      reader.send(JSON.stringify({ type: "history", room, ref: room }));
      await reader.next((f) => f.type === "ack" && f.ref === room);
      const history = reader.ofType("history").filter((h) => h.room === room).at(-1)!;
      expect(history.messages.filter((m) => m.name === "pia").map((m) => m.content)).toEqual([content]);
    }
  });

  test("a direct message between two CLI clients", async () => {
    const ann = liveClient("--name", "ann");
    const ben = liveClient("--name", "ben");
    await ann.out.waitFor("Welcome, ann");
    await ben.out.waitFor("Welcome, ben");
    ann.type("/msg ben  hello,   ben");
    expect(await ben.out.waitFor("[dm]")).toMatch(/^\d\d:\d\d:\d\d \[dm\] ann → you: hello,   ben$/);
    expect(await ann.out.waitFor("[dm]")).toMatch(/\[dm\] you → ben: hello,   ben$/);
    ben.type("/msg ann thanks");
    await ann.out.waitFor("ben → you: thanks");
    expect(await ann.end()).toBe(0);
    expect(await ben.end()).toBe(0);
  });

  test("/join, /who, /rooms, /me and /leave", async () => {
    const watcher = await TestClient.connect(`${server.url}/?name=watcher&room=ops`);
    const result = await piped(
      ["/join #ops", "/who", "/rooms", "/me deploys", "/leave #ops", "/rooms", "back in the lobby"].join("\n") + "\n",
      "--name", "joiner",
    );
    expect(result.code).toBe(0);
    const out = result.stdout;
    expect(out).toMatch(/-- joiner joined #ops/);
    expect(out).toMatch(/-- #ops \(2 users\): joiner, watcher/);
    expect(out).toContain("Your rooms: #lobby, #ops (current: #ops)");
    expect(out).toMatch(/#ops \* joiner deploys/);
    expect(out).toMatch(/-- joiner left #ops/);
    expect(out).toContain("Your rooms: #lobby (current: #lobby)");
    expect(out).toMatch(/joiner \(you\): back in the lobby$/m);
    // Other clients see the action as plain text with the /me marker.
    await watcher.next((f) => f.type === "message" && f.content === "/me deploys");
    watcher.close();
  });

  test("/nick renames, and the next messages carry the new name", async () => {
    const result = await piped("/nick newname\nunder a new name\n", "--name", "oldname");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("-- oldname is now known as newname");
    expect(result.stdout).toMatch(/newname \(you\): under a new name/);
  });

  test("/help lists every command", async () => {
    const result = await piped("/help\n");
    for (const command of ["/join", "/leave", "/nick", "/who", "/msg", "/rooms", "/history", "/me", "/help", "/quit"]) {
      expect(result.stdout).toContain(command);
    }
  });

  test("/quit quits like exit", async () => {
    const result = await piped("/quit\nnot sent\n");
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain("not sent");
  });

  test.each([
    ["/bogus", "unknown command /bogus; /help lists the commands"],
    ["/join", "usage: /join #room"],
    ["/join Not-Lower", "'Not-Lower' is not a room name"],
    ["/nick two words", "usage: /nick name"],
    ["/nick User-fake", "names starting with 'User-' are reserved"],
    ["/msg someone", "usage: /msg name text"],
    ["/who #a #b", "usage: /who [#room]"],
    ["/me", "usage: /me action"],
  ])("%s prints a one-line usage message and sends nothing", async (line, message) => {
    const watcher = await TestClient.connect(server.url);
    await watcher.welcome();
    const result = await piped(`${line}\n`);
    expect(result.stdout).toContain(message);
    expect(result.code).toBe(1);
    await Bun.sleep(50);
    expect(watcher.ofType("message")).toEqual([]);
    watcher.close();
  });

  test("server refusals of commands are shown as errors", async () => {
    const result = await piped("/msg nobody-at-all hi\n/leave #never-joined\n");
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/error \[no_such_user\]/);
    expect(result.stdout).toMatch(/error \[not_in_room\]: you are not in #never-joined/);
  });

  test("/history shows older messages of the current room, page by page", async () => {
    const writer = await storeMessages("archive", "old", 60);
    const result = await piped("/history 5\n/history 3\n", "--room", "archive");
    expect(result.code).toBe(0);
    const shown = result.stdout.split("\n").map((line) => /: (old \d+)$/.exec(line)?.[1]).filter(Boolean);
    // 50 on joining (11..60), then 6..10, then 3..5.
    expect(shown.slice(0, 50)).toEqual(Array.from({ length: 50 }, (_, i) => `old ${i + 11}`));
    expect(shown.slice(50)).toEqual(["old 6", "old 7", "old 8", "old 9", "old 10", "old 3", "old 4", "old 5"]);
    writer.close();
  });

  test("/history says where a room's history begins, and that nothing older exists", async () => {
    const writer = await storeMessages("short", "short", 55);
    const result = await piped("/history 3\n/history 5\n/history\n", "--room", "short");
    expect(result.code).toBe(0);
    const lines = result.stdout.split("\n");
    const at = (text: string) => lines.findIndex((line) => line.endsWith(text));
    // 6..55 on joining, then 3..5 (more exist), then 1..2 after the note, then the note alone.
    expect(at(": short 55")).toBeGreaterThan(-1);
    expect(at(": short 3")).toBeGreaterThan(at(": short 55"));
    expect(at("-- the beginning of #short --")).toBeGreaterThan(at(": short 5"));
    expect(at(": short 1")).toBeGreaterThan(at("-- the beginning of #short --"));
    expect(at("No older messages in #short")).toBeGreaterThan(at(": short 2"));
    expect(lines.filter((line) => line.includes("-- the beginning of #short --"))).toHaveLength(1);
    writer.close();
  });

  test("--json: /history pages back from the oldest message shown, one history frame per page", async () => {
    const writer = await storeMessages("json-pages", "jp", 60);
    const result = await piped("/history 5\n/history 5\n", "--room", "json-pages", "--json");
    expect(result.code).toBe(0);
    const pages = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as { type: string; messages?: Array<{ content: string }> })
      .filter((f) => f.type === "history").map((f) => f.messages!.map((m) => m.content));
    // 11..60 on joining, then 6..10, then 1..5.
    expect(pages).toHaveLength(3);
    expect(pages.slice(1)).toEqual([[6, 7, 8, 9, 10].map((i) => `jp ${i}`), [1, 2, 3, 4, 5].map((i) => `jp ${i}`)]);
    writer.close();
  });

  test("--json: a /history that finds nothing older is one empty history frame, not two", async () => {
    const result = await piped("/history\n", "--room", "json-empty", "--json");
    expect(result.code).toBe(0);
    const histories = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as { type: string; messages?: unknown[]; complete?: boolean })
      .filter((f) => f.type === "history");
    // The join's (empty) history, then the page's.
    expect(histories).toEqual([expect.objectContaining({ messages: [] }), expect.objectContaining({ messages: [], complete: true })]);
  });

  test("/history of more than the server sends in one frame shows the whole page, in order", async () => {
    const writer = await storeMessages("deep", "deep", 500);
    const result = await piped("/history 300\n", "--room", "deep");
    expect(result.code).toBe(0);
    const shown = result.stdout.split("\n").map((line) => /: deep (\d+)$/.exec(line)?.[1]).filter(Boolean).map(Number);
    // 50 on joining (451..500), then 151..450, sent as two history frames of 200 and 100.
    expect(shown).toEqual([...Array.from({ length: 50 }, (_, i) => 451 + i), ...Array.from({ length: 300 }, (_, i) => 151 + i)]);
    writer.close();
  });

  test("//text sends a message that starts with a slash", async () => {
    const result = await piped("//not a command\n", "--name", "slasher");
    expect(result.stdout).toMatch(/slasher \(you\): \/not a command$/m);
  });
});
