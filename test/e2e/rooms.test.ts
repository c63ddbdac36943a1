// Rooms, names, presence and direct messages against a real server process.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { ServerFrame } from "../../src/protocol.ts";
import { cleanup, startServer, TestClient, type ServerProcess } from "../helpers.ts";

setDefaultTimeout(20_000);

type Of<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;
let server: ServerProcess;
let counter = 0;
/** A fresh user with a unique name, welcomed. */
async function user(query: Record<string, string> = {}): Promise<TestClient & { name: string }> {
  const name = query.name ?? `u${++counter}`;
  const params = new URLSearchParams({ name, ...query });
  const client = (await TestClient.connect(`${server.url}/?${params}`)) as TestClient & { name: string };
  client.name = name;
  await client.welcome();
  return client;
}
const send = (client: TestClient, frame: object) => client.send(JSON.stringify(frame));
type AnySystem = Of<"system"> & { name?: string; room?: string };
const isSystem = (event: string, extra: (f: AnySystem) => boolean = () => true) => (f: ServerFrame) =>
  f.type === "system" && f.event === event && extra(f as AnySystem);
const isMessage = (content: string) => (f: ServerFrame) => f.type === "message" && f.content === content;

beforeAll(async () => {
  server = await startServer(["--max-rooms", "3"]);
});
afterAll(cleanup);

describe("rooms", () => {
  test("?room= on connect puts the user in that room", async () => {
    const a = await user({ room: "#start-here" });
    expect((await a.welcome()).rooms).toEqual(["start-here"]);
    a.send("in start-here");
    expect(await a.next(isMessage("in start-here"))).toMatchObject({ room: "start-here", id: 1 });
  });

  test("join: the room hears it, the joiner gets the notice, the presence and the ack; the lobby does not", async () => {
    const lobbyOnly = await user();
    const member = await user({ room: "dev" });
    const joiner = await user();
    send(joiner, { type: "join", room: "#dev", ref: "j1" });
    await member.next(isSystem("join", (f) => f.name === joiner.name && f.room === "dev"));
    await joiner.next(isSystem("join", (f) => f.name === joiner.name));
    const presence = await joiner.next<Of<"presence">>((f) => f.type === "presence");
    expect(presence.room).toBe("dev");
    expect(presence.users.map((u) => u.name)).toEqual([member.name, joiner.name].sort());
    expect(await joiner.next((f) => f.type === "ack")).toMatchObject({ ref: "j1" });
    await Bun.sleep(50);
    expect(lobbyOnly.frames.some(isSystem("join", (f) => f.name === joiner.name && f.room === "dev"))).toBe(false);
  });

  test("plain text goes to the current room (the last joined); a room field picks another", async () => {
    const a = await user({ room: "alpha" });
    const inBeta = await user({ room: "beta" });
    send(a, { type: "join", room: "beta" });
    await a.next((f) => f.type === "presence");
    a.send("to beta");
    expect(await inBeta.next(isMessage("to beta"))).toMatchObject({ room: "beta" });
    send(a, { type: "message", content: "to alpha", room: "alpha", ref: "m1" });
    expect(await a.next(isMessage("to alpha"))).toMatchObject({ room: "alpha" });
    expect(await a.next((f) => f.type === "ack")).toMatchObject({ ref: "m1", room: "alpha" });
    await Bun.sleep(50);
    expect(inBeta.frames.some(isMessage("to alpha"))).toBe(false);
  });

  test("each room counts its own ids", async () => {
    const a = await user({ room: "ids-one" });
    send(a, { type: "join", room: "ids-two" });
    await a.next((f) => f.type === "presence");
    for (const room of ["ids-one", "ids-two", "ids-one"]) send(a, { type: "message", content: `in ${room}`, room });
    await a.next((f) => f.type === "message" && f.room === "ids-one" && f.id === 2);
    expect(a.ofType("message").map((f) => `${f.room}:${f.id}`)).toEqual(["ids-one:1", "ids-two:1", "ids-one:2"]);
  });

  test("leave: the room hears it, the leaver gets it too, and its messages no longer arrive", async () => {
    const stayer = await user({ room: "exit-test" });
    const leaver = await user({ room: "exit-test" });
    send(leaver, { type: "leave", room: "exit-test", ref: "l1" });
    await stayer.next(isSystem("leave", (f) => f.name === leaver.name));
    await leaver.next(isSystem("leave", (f) => f.name === leaver.name));
    expect(await leaver.next((f) => f.type === "ack")).toMatchObject({ ref: "l1" });
    stayer.send("after the leave");
    await stayer.next(isMessage("after the leave"));
    await Bun.sleep(50);
    expect(leaver.frames.some(isMessage("after the leave"))).toBe(false);
  });

  test("after leaving the last room, plain text gets not_in_room", async () => {
    const a = await user();
    send(a, { type: "leave", room: "lobby" });
    await a.next(isSystem("leave"));
    a.send("into the void");
    expect(await a.next((f) => f.type === "error")).toMatchObject({ code: "not_in_room" });
  });

  test("a connection may be in at most --max-rooms rooms", async () => {
    const a = await user(); // lobby is one
    send(a, { type: "join", room: "r2" });
    send(a, { type: "join", room: "r3" });
    send(a, { type: "join", room: "r4", ref: "too-many" });
    expect(await a.next((f) => f.type === "error")).toMatchObject({ code: "bad_room", ref: "too-many" });
  });

  test("a message to a room the user left gets not_in_room", async () => {
    const a = await user({ room: "was-here" });
    send(a, { type: "join", room: "lobby" });
    send(a, { type: "leave", room: "was-here" });
    send(a, { type: "message", content: "late", room: "was-here", ref: "late-1" });
    expect(await a.next((f) => f.type === "error")).toMatchObject({ code: "not_in_room", ref: "late-1" });
  });
});

describe("names", () => {
  test("nick tells every room the user is in and later messages carry the new name", async () => {
    const a = await user({ room: "n1" });
    send(a, { type: "join", room: "n2" });
    const inN1 = await user({ room: "n1" });
    const inN2 = await user({ room: "n2" });
    const newName = `renamed${counter}`;
    send(a, { type: "nick", name: newName, ref: "n" });
    for (const watcher of [inN1, inN2]) {
      const notice = await watcher.next<Of<"system">>(isSystem("nick"));
      expect(notice).toMatchObject({ name: newName, oldName: a.name, content: `${a.name} is now known as ${newName}` });
    }
    expect(await a.next((f) => f.type === "ack")).toMatchObject({ ref: "n" });
    a.send("with my new name");
    await inN2.next(isMessage("with my new name"));
    // a shares two rooms with itself and one with each watcher: everyone hears it once.
    for (const client of [a, inN1, inN2]) expect(client.frames.filter(isSystem("nick"))).toHaveLength(1);
    expect(await inN2.next(isMessage("with my new name"))).toMatchObject({ name: newName });
  });

  test("a name is unique ignoring case, and free again after a rename", async () => {
    const holder = await user({ name: "Quinn" });
    const other = await user();
    send(other, { type: "nick", name: "QUINN", ref: "q" });
    expect(await other.next((f) => f.type === "error")).toMatchObject({ code: "name_taken", ref: "q" });
    send(holder, { type: "nick", name: "Quinn2" });
    await holder.next(isSystem("nick"));
    send(other, { type: "nick", name: "quinn" });
    await other.next(isSystem("nick", (f) => f.name === "quinn"));
  });
});

describe("presence", () => {
  test("who answers with the room's users sorted by name, for the current room by default", async () => {
    const room = "who-room";
    const names = ["zed", "Amy", "bob"].map((n) => `${n}${counter}`);
    const clients = [];
    for (const name of names) clients.push(await user({ name, room }));
    send(clients[0]!, { type: "who" });
    const presence = await clients[0]!.next<Of<"presence">>((f) => f.type === "presence");
    expect(presence.room).toBe(room);
    expect(presence.users.map((u) => u.name)).toEqual([names[1]!, names[2]!, names[0]!]);
    send(clients[0]!, { type: "who", room: "empty-room" });
    const empty = await clients[0]!.next<Of<"presence">>((f) => f.type === "presence" && f.room === "empty-room");
    expect(empty.users).toEqual([]);
  });

  test("two connections of one user are one presence entry; leave is announced after the last", async () => {
    const watcher = await user({ room: "tabs" });
    const first = await user({ room: "tabs" });
    const session = (await first.welcome()).session;
    const second = await TestClient.connect(`${server.url}/?session=${session}&room=tabs`);
    const secondWelcome = await second.welcome();
    expect(secondWelcome.userId).toBe((await first.welcome()).userId);
    expect(secondWelcome.name).toBe(first.name);

    send(watcher, { type: "who" });
    const presence = await watcher.next<Of<"presence">>((f) => f.type === "presence");
    expect(presence.users.filter((u) => u.name === first.name)).toHaveLength(1);

    first.close();
    await first.closed;
    await Bun.sleep(100);
    expect(watcher.frames.some(isSystem("leave", (f) => f.name === first.name))).toBe(false);
    second.close();
    await watcher.next(isSystem("leave", (f) => f.name === first.name));
    const joins = watcher.frames.filter(isSystem("join", (f) => f.name === first.name));
    expect(joins).toHaveLength(1);
  });
});

describe("direct messages", () => {
  test("reach every connection of the recipient and of the sender, and nobody else", async () => {
    const sender = await user();
    const senderTab = await TestClient.connect(`${server.url}/?session=${(await sender.welcome()).session}`);
    await senderTab.welcome();
    const recipient = await user();
    const recipientTab = await TestClient.connect(`${server.url}/?session=${(await recipient.welcome()).session}`);
    await recipientTab.welcome();
    const bystander = await user();

    send(sender, { type: "direct", to: recipient.name.toUpperCase(), content: "psst", ref: "d1" });
    for (const client of [sender, senderTab, recipient, recipientTab]) {
      const direct = await client.next<Of<"direct">>((f) => f.type === "direct");
      expect(direct).toMatchObject({ fromName: sender.name, toName: recipient.name, content: "psst" });
      expect(direct.from).toBe((await sender.welcome()).userId);
      expect(direct.to).toBe((await recipient.welcome()).userId);
    }
    expect(await sender.next((f) => f.type === "ack")).toMatchObject({ ref: "d1" });
    await Bun.sleep(50);
    expect(bystander.frames.some((f) => f.type === "direct")).toBe(false);
  });

  test("can be addressed by userId", async () => {
    const a = await user();
    const b = await user();
    send(a, { type: "direct", to: (await b.welcome()).userId, content: "by id" });
    expect(await b.next((f) => f.type === "direct")).toMatchObject({ content: "by id" });
  });

  test("sent again with the same ref (a resend after a lost ack) is acked again and delivered once", async () => {
    const a = await user();
    const b = await user();
    for (let i = 0; i < 2; i++) {
      send(a, { type: "direct", to: b.name, content: "only once", ref: "once" });
      await a.next((f) => f.type === "ack" && f.ref === "once");
    }
    send(a, { type: "direct", to: b.name, content: "next", ref: "next" });
    await b.next((f) => f.type === "direct" && f.content === "next");
    expect(b.frames.filter((f) => f.type === "direct" && f.content === "only once")).toHaveLength(1);
  });

  test("to a user in its grace period (no connection) is refused, not acked and lost", async () => {
    const graceful = await startServer(["--grace", "30"]);
    const bob = await TestClient.connect(`${graceful.url}/?name=bob`);
    await bob.welcome();
    const alice = await TestClient.connect(`${graceful.url}/?name=alice`);
    await alice.welcome();
    bob.close();
    await bob.closed;
    await Bun.sleep(100); // the server has handled bob's close
    // Bob is still listed in the room (his grace period), but nothing can reach him.
    send(alice, { type: "who" });
    expect((await alice.next<Of<"presence">>((f) => f.type === "presence")).users.map((u) => u.name)).toContain("bob");
    send(alice, { type: "direct", to: "bob", content: "are you there?", ref: "d3" });
    expect(await alice.next((f) => (f.type === "error" || f.type === "ack") && f.ref === "d3")).toMatchObject({ type: "error", code: "no_such_user" });
  });

  test("to an unknown user gets no_such_user with the ref", async () => {
    const a = await user();
    send(a, { type: "direct", to: "nobody-here", content: "hello?", ref: "d2" });
    expect(await a.next((f) => f.type === "error")).toMatchObject({ code: "no_such_user", ref: "d2" });
  });
});

describe("large rooms", () => {
  test("past --announce-limit users a room hears no join or leave notices, and who still lists everyone", async () => {
    const quiet = await startServer(["--announce-limit", "2"]);
    const first = await TestClient.connect(`${quiet.url}/?name=first`);
    await first.welcome();
    const second = await TestClient.connect(`${quiet.url}/?name=second`);
    await first.next(isSystem("join", (f) => f.name === "second")); // 2 users: announced
    const third = await TestClient.connect(`${quiet.url}/?name=third`);
    await third.welcome();
    third.close();
    await third.closed;
    send(first, { type: "who" });
    const presence = await first.next<Of<"presence">>((f) => f.type === "presence");
    expect(presence.users.map((u) => u.name)).toEqual(["first", "second"]);
    send(first, { type: "ping" });
    await first.next((f) => f.type === "pong");
    expect(first.frames.filter((f) => f.type === "system" && (f.event === "join" || f.event === "leave") && f.name === "third")).toEqual([]);
    second.close();
    await first.next(isSystem("leave", (f) => f.name === "second")); // back at 2: announced again
  });
});
