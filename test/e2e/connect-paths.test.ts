// A plain connection to a single server is opened by lifecycle.ts `openPlain`, one
// synchronous function; any other (a ?query, a token, a cluster) by `handleOpen`'s
// steps. `?room=lobby` asks for what a plain connection gets, so it takes the long
// way to the same place: the two must be told the same things, and the room must
// hear of both alike.
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import type { ServerFrame } from "../../src/protocol.ts";
import { cleanup, maskedFrame, startServer, TestClient } from "../helpers.ts";

setDefaultTimeout(20_000);
afterAll(cleanup);

type Frame = ServerFrame & Record<string, unknown>;
const isJoinOf = (userId: string) => (f: ServerFrame) => f.type === "system" && f.event === "join" && (f as Frame).userId === userId;

/** Connects and returns its welcome and its first history frame, in the order they came. */
async function opened(url: string): Promise<{ client: TestClient; userId: string; frames: ServerFrame[] }> {
  const client = await TestClient.connect(url);
  const welcome = await client.welcome();
  await client.next((f) => f.type === "history");
  return { client, userId: welcome.userId, frames: client.frames.slice() };
}

test("a plain connection and one with ?room=lobby are told the same and announced alike", async () => {
  const server = await startServer();
  const observer = await TestClient.connect(server.url);
  await observer.welcome();
  observer.send("something to replay");
  await observer.next((f) => f.type === "message");

  const plain = await opened(server.url);
  const asked = await opened(`${server.url}/?room=lobby`);
  expect(plain.frames.map((f) => f.type)).toEqual(["system", "history"]);
  expect(asked.frames.map(maskedFrame)).toEqual(plain.frames.map(maskedFrame));
  const [welcome] = plain.frames as Frame[];
  expect(welcome).toMatchObject({ event: "welcome", rooms: ["lobby"], content: `Welcome, ${plain.userId}! You are in #lobby.` });
  expect(String(welcome!.session).startsWith(`${plain.userId}.`)).toBe(true);

  const heard = [await observer.next(isJoinOf(plain.userId)), await observer.next(isJoinOf(asked.userId))];
  expect(maskedFrame(heard[1]!)).toEqual(maskedFrame(heard[0]!));
  // Neither hears its own arrival; each hears the other's.
  expect(plain.client.frames.some(isJoinOf(plain.userId))).toBe(false);
  await plain.client.next(isJoinOf(asked.userId));

  // Both are in the room: presence lists them, and a message reaches them.
  observer.send(JSON.stringify({ type: "who" }));
  const presence = await observer.next((f) => f.type === "presence");
  const ids = (presence as Frame & { users: { userId: string }[] }).users.map((u) => u.userId);
  expect(ids).toEqual(expect.arrayContaining([plain.userId, asked.userId]));
  observer.send("live");
  for (const { client } of [plain, asked]) await client.next((f) => f.type === "message" && f.content === "live");
});

test("past the announce limit neither way announces the arrival", async () => {
  const server = await startServer(["--announce-limit", "1"]);
  const observer = await TestClient.connect(server.url);
  await observer.welcome();
  const plain = await opened(server.url);
  const asked = await opened(`${server.url}/?room=lobby`);
  // Both opens are done; a who sent now is answered after any notice they caused.
  observer.send(JSON.stringify({ type: "who" }));
  const presence = await observer.next((f) => f.type === "presence");
  expect((presence as Frame & { users: unknown[] }).users).toHaveLength(3);
  expect(observer.frames.filter((f) => f.type === "system" && f.event === "join")).toEqual([]);
  expect([plain.userId, asked.userId].every((id) => !observer.frames.some(isJoinOf(id)))).toBe(true);
});
