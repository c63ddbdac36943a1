// The server as a user starts it (`bun src/server.ts`), driven over real sockets.
import { setDefaultTimeout, afterAll, afterEach, describe, expect, test } from "bun:test";
import net from "node:net";
import type { ServerFrame } from "../../src/protocol.ts";
import {
  cleanup,
  rawWebSocketPeer,
  runCommand,
  socketClosed,
  startServer,
  TestClient,
  type ServerProcess,
} from "../helpers.ts";

// These tests start real processes; a loaded CI machine needs more than 5 s now and then.
setDefaultTimeout(20_000);

afterAll(cleanup);

const isMessage = (content: string) => (f: ServerFrame) => f.type === "message" && f.content === content;

describe("one server, several clients", () => {
  let server: ServerProcess;
  const fresh = async (query = "") => {
    server ??= await startServer();
    const client = await TestClient.connect(`${server.url}/${query}`);
    await client.welcome();
    return client;
  };
  afterEach(async () => {
    // Let the server settle so one test's leave notices do not land in the next one's frames.
    await Bun.sleep(20);
  });

  test("a welcome gives a User-XXXXX id, the lobby, a session and the limits", async () => {
    const client = await fresh();
    const welcome = await client.welcome();
    expect(welcome.userId).toMatch(/^User-[0-9a-z]{5}$/);
    expect(welcome.name).toBe(welcome.userId);
    expect(welcome.rooms).toEqual(["lobby"]);
    expect(welcome.session.length).toBeGreaterThanOrEqual(16);
    expect(welcome.limits).toEqual({ maxContentBytes: 4096, maxPayloadBytes: 65536, maxRoomsPerConnection: 100, rate: 0, burst: 40 }); // tests run with --rate 0
    expect(welcome.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    client.close();
  });

  test("plain text and message frames reach everyone, the sender included, with increasing ids", async () => {
    const alice = await fresh("?name=alice");
    const bob = await fresh("?name=bob");
    alice.send("hello from alice");
    // Two sockets race each other; order them so the ids are predictable.
    await bob.next(isMessage("hello from alice"));
    bob.send(JSON.stringify({ type: "message", content: "hi from bob" }));
    for (const client of [alice, bob]) {
      const first = await client.next<Extract<ServerFrame, { type: "message" }>>(isMessage("hello from alice"));
      const second = await client.next<Extract<ServerFrame, { type: "message" }>>(isMessage("hi from bob"));
      expect(first).toMatchObject({ room: "lobby", name: "alice", userId: expect.stringMatching(/^User-/) });
      expect(second.name).toBe("bob");
      expect(second.id).toBe(first.id + 1);
    }
    alice.close();
    bob.close();
  });

  test("others hear join and leave notices; the newcomer gets only its welcome", async () => {
    const alice = await fresh("?name=carol");
    const bob = await fresh("?name=dave");
    const joined = await alice.next((f) => f.type === "system" && f.event === "join" && f.name === "dave");
    expect(joined).toMatchObject({ room: "lobby", content: "dave joined #lobby" });
    expect(bob.frames.some((f) => f.type === "system" && f.event === "join")).toBe(false);
    bob.close();
    const left = await alice.next((f) => f.type === "system" && f.event === "leave" && f.name === "dave");
    expect(left).toMatchObject({ room: "lobby", content: "dave left #lobby" });
    alice.close();
  });

  test("a ref is acknowledged with the message id and room", async () => {
    const client = await fresh();
    client.send(JSON.stringify({ type: "message", content: "acked", ref: "r-1" }));
    const message = await client.next<Extract<ServerFrame, { type: "message" }>>(isMessage("acked"));
    const ack = await client.next((f) => f.type === "ack");
    expect(ack).toMatchObject({ type: "ack", ref: "r-1", id: message.id, room: "lobby" });
    client.close();
  });

  test("ping is answered by pong", async () => {
    const client = await fresh();
    client.send('{"type":"ping"}');
    expect((await client.next((f) => f.type === "pong")).timestamp).toBeString();
    client.close();
  });

  test.each([
    ["invalid JSON", "{not json", "bad_json"],
    ["an unknown type", '{"type":"teleport"}', "bad_frame"],
    ["a join without a room", '{"type":"join"}', "bad_frame"],
    ["a join of a bad room", '{"type":"join","room":"#Bad Room"}', "bad_room"],
    ["a leave of a room not joined", '{"type":"leave","room":"nowhere"}', "not_in_room"],
    ["a bad nick", '{"type":"nick","name":"no spaces"}', "bad_name"],
    ["a reserved nick", '{"type":"nick","name":"User-zzzzz"}', "bad_name"],
    ["a direct message to nobody", '{"type":"direct","to":"ghost","content":"boo"}', "no_such_user"],
    ["a direct message without content", '{"type":"direct","to":"ghost"}', "bad_frame"],
    ["a who for a bad room", '{"type":"who","room":"UPPER"}', "bad_room"],
    ["a missing content", '{"type":"message"}', "bad_frame"],
    ["a mistyped content", '{"type":"message","content":5}', "bad_frame"],
    ["an empty message", '{"type":"message","content":"   "}', "bad_frame"],
    ["a bad room", '{"type":"message","content":"x","room":"No Spaces"}', "bad_room"],
    ["a room not joined", '{"type":"message","content":"x","room":"elsewhere"}', "not_in_room"],
    ["an overlong ref", `{"type":"message","content":"x","ref":"${"r".repeat(65)}"}`, "bad_frame"],
    ["content over 4096 bytes", JSON.stringify({ type: "message", content: "é".repeat(2049) }), "too_long"],
  ])("%s gets an error frame and the connection stays usable", async (_label, frame, code) => {
    const client = await fresh();
    client.send(frame);
    const error = await client.next((f) => f.type === "error");
    expect(error).toMatchObject({ code, content: expect.any(String) });
    client.send("still here");
    await client.next(isMessage("still here"));
    client.close();
  });

  test("text that does not start with '{' is a message even when it is JSON", async () => {
    const client = await fresh();
    client.send("[1,2]");
    client.send('  "quoted"');
    await client.next(isMessage("[1,2]"));
    await client.next(isMessage('  "quoted"'));
    client.close();
  });

  test("an error for a frame with a ref carries the ref", async () => {
    const client = await fresh();
    client.send(JSON.stringify({ type: "message", content: "x".repeat(5000), ref: "big-1" }));
    expect(await client.next((f) => f.type === "error")).toMatchObject({ code: "too_long", ref: "big-1" });
    client.close();
  });

  test("a binary frame gets bad_frame and the connection stays usable", async () => {
    const client = await fresh();
    client.send(new Uint8Array([1, 2, 3]));
    expect(await client.next((f) => f.type === "error")).toMatchObject({ code: "bad_frame" });
    client.send("after binary");
    await client.next(isMessage("after binary"));
    client.close();
  });

  test("a frame over the payload limit closes only that connection, with 1009", async () => {
    const bystander = await fresh();
    const offender = await fresh();
    offender.send("x".repeat(70 * 1024));
    expect((await offender.closed).code).toBe(1009);
    bystander.send("unaffected");
    await bystander.next(isMessage("unaffected"));
    bystander.close();
  });

  test("bad and taken names are refused with an error and the id is used", async () => {
    const holder = await fresh("?name=Erin");
    const taken = new TestClient(`${server.url}/?name=ERIN`);
    expect(await taken.next((f) => f.type === "error")).toMatchObject({ code: "name_taken" });
    const takenWelcome = await taken.welcome();
    expect(takenWelcome.name).toBe(takenWelcome.userId);

    for (const bad of ["has space", "User-abcde", "x".repeat(33), "semi;colon"]) {
      const client = new TestClient(`${server.url}/?name=${encodeURIComponent(bad)}`);
      expect(await client.next((f) => f.type === "error")).toMatchObject({ code: "bad_name" });
      const welcome = await client.welcome();
      expect(welcome.name).toBe(welcome.userId);
      client.close();
    }
    holder.close();
    taken.close();
  });

  test("a name is free again once its holder leaves", async () => {
    const first = await fresh("?name=frank");
    first.close();
    await first.closed;
    await Bun.sleep(50);
    const second = await fresh("?name=frank");
    expect((await second.welcome()).name).toBe("frank");
    second.close();
  });

  test("with --log-level debug the connect and disconnect of a client are logged on stderr", async () => {
    const server = await startServer(["--log-level", "debug"]);
    const client = await TestClient.connect(`${server.url}?name=grace`);
    await client.welcome();
    client.close();
    await server.stderr.waitFor(/DEBUG\s+connect .*name=grace/);
    await server.stderr.waitFor(/DEBUG\s+disconnect .*code=/);
  });

  test("a plain HTTP request is told to upgrade, except GET / which is the browser page", async () => {
    const response = await fetch(`http://127.0.0.1:${server.port}/chat`);
    expect(response.status).toBe(426);
    expect(response.headers.get("upgrade")).toBe("websocket");
    const page = await fetch(`http://127.0.0.1:${server.port}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
  });
});

describe("peers that misbehave at the socket level", () => {
  test("a slow reader is cut off at the backpressure limit and others keep receiving", async () => {
    const server = await startServer(["--backpressure-limit", "65536", "--log-level", "warn"]);
    const reader = await TestClient.connect(server.url);
    const slow = await rawWebSocketPeer(server.port);
    slow.pause(); // never read again: the kernel buffers fill, then the server's queue does
    const sender = await TestClient.connect(server.url);
    const chunk = "z".repeat(3000);
    // Send in waves so the well-behaved clients drain between them.
    for (let wave = 0; wave < 40 && !slow.destroyed; wave++) {
      for (let i = 0; i < 100; i++) sender.send(chunk);
      await reader.next((f) => f.type === "message" && f.id === (wave + 1) * 100, 10_000);
    }
    await server.stderr.waitFor(/WARN\s+disconnect .*cause=slow_reader/, 10_000);
    sender.send("after the slow reader");
    await reader.next(isMessage("after the slow reader"));
    await cleanup();
  });

  test("a peer that answers no pings is closed after two heartbeat intervals", async () => {
    const server = await startServer(["--heartbeat", "0.2"]);
    const dead = await rawWebSocketPeer(server.port);
    const live = await TestClient.connect(server.url); // answers pings automatically
    await socketClosed(dead, 3000);
    await server.stderr.waitFor(/disconnect .*cause=heartbeat/);
    await Bun.sleep(500);
    live.send("alive after several heartbeats");
    await live.next(isMessage("alive after several heartbeats"));
    await cleanup();
  });
});

describe("starting and stopping", () => {
  afterEach(cleanup);

  test("SIGTERM sends a shutdown notice, closes with 1001 and exits 0 within 2 s", async () => {
    const server = await startServer();
    const clients = await Promise.all([1, 2, 3].map(() => TestClient.connect(server.url)));
    await Promise.all(clients.map((c) => c.welcome()));
    const started = performance.now();
    server.proc.kill("SIGTERM");
    for (const client of clients) {
      await client.next((f) => f.type === "system" && f.event === "shutdown");
      expect((await client.closed).code).toBe(1001);
    }
    expect(await server.proc.exited).toBe(0);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test("SIGINT: new upgrades during shutdown get 503, then the process exits 0", async () => {
    const server = await startServer(["--shutdown-linger", "1.5"]);
    const client = await TestClient.connect(server.url);
    server.proc.kill("SIGINT");
    expect((await client.closed).code).toBe(1001);
    await server.stderr.waitFor("shutdown");
    const refused = await rawWebSocketPeer(server.port).then(
      () => "upgraded",
      (error: Error) => error.message,
    );
    expect(refused).toContain("503");
    expect(await server.proc.exited).toBe(0);
  });

  test("with no flags it listens on 8080 and prints the original line", async () => {
    // Only meaningful when 8080 is free on this machine; otherwise it proves the in-use path.
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer().once("error", () => resolve(false));
      probe.listen(8080, () => probe.close(() => resolve(true)));
    });
    // No flags; the env keeps history in memory so no ./data is left behind.
    const proc = Bun.spawn(["bun", "src/server.ts"], {
      cwd: `${import.meta.dir}/../..`,
      env: { ...process.env, CHAT_DB: ":memory:" },
      stdout: "pipe",
      stderr: "pipe",
    });
    if (free) {
      const reader = proc.stdout.getReader();
      const { value } = await reader.read();
      expect(new TextDecoder().decode(value)).toBe("WebSocket server is listening on port 8080\n");
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    } else {
      expect(await proc.exited).toBe(1);
    }
  });

  test("a port in use is one clear line and exit code 1", async () => {
    const first = await startServer();
    const result = await runCommand(["bun", "src/server.ts", "--port", String(first.port), "--host", "127.0.0.1"]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(`error: cannot listen on 127.0.0.1 port ${first.port}: the port is already in use`);
  });

  test.each([
    [["--port", "abc"], "--port"],
    [["--port", "70000"], "--port"],
    [["--bogus"], "--bogus"],
    [["--log-level", "loud"], "--log-level"],
    [["--heartbeat", "0"], "--heartbeat"],
  ])("bad flag %p is one line naming %s and exit code 2", async (args, flag) => {
    const result = await runCommand(["bun", "src/server.ts", ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain(flag);
  });

  test("a bad PORT env var names the variable", async () => {
    const result = await runCommand(["bun", "src/server.ts"], { env: { PORT: "eighty" } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("PORT");
  });

  test("--log-format json writes one JSON object per line", async () => {
    const server = await startServer(["--log-format", "json", "--log-level", "debug"]);
    const client = await TestClient.connect(server.url);
    await client.welcome();
    const line = await server.stderr.waitFor('"event":"connect"');
    expect(JSON.parse(line)).toMatchObject({ level: "debug", event: "connect", rooms: "lobby" });
  });

  test("--help lists every option with its default", async () => {
    const result = await runCommand(["bun", "src/server.ts", "--help"]);
    expect(result.code).toBe(0);
    for (const flag of ["--port", "--host", "--max-content", "--max-payload", "--backpressure-limit", "--heartbeat", "--log-level", "--log-format"]) {
      expect(result.stdout).toContain(flag);
    }
    expect(result.stdout).toContain("(default: 8080)");
  });
});
