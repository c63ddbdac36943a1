// One contract, every implementation: the memory store, SQLite in memory, SQLite on disk.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createMemoryHistory } from "../../../../src/server/history/memory.ts";
import { Database } from "bun:sqlite";
import { createSqliteHistory } from "../../../../src/server/history/sqlite.ts";
import type { DraftMessage, LocalHistoryStore as HistoryStore } from "../../../../src/server/history/store.ts";

const dir = mkdtempSync(path.join(tmpdir(), "chat-history-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const draft = (room: string, content: string, ref?: string, userId = "User-aaaaa"): DraftMessage => ({
  type: "message", room, userId, name: "alice", content, timestamp: "2026-01-01T00:00:00.000Z", ...(ref ? { ref } : {}),
});
/** Appends n messages "m1".."mn" to a room, one batch each (as separate turns would). */
async function fill(store: HistoryStore, room: string, n: number, from = 1) {
  for (let i = from; i < from + n; i++) await store.append([draft(room, `m${i}`)]);
}
const ids = (messages: { id: number }[]) => messages.map((m) => m.id);

const implementations: Array<[string, (limit: number, file?: string) => HistoryStore]> = [
  ["memory", (limit) => createMemoryHistory({ historyLimit: limit })],
  ["sqlite :memory:", (limit) => createSqliteHistory(":memory:", { historyLimit: limit })],
  ["sqlite file", (limit, file) => createSqliteHistory(file ?? path.join(dir, `h${++files}.db`), { historyLimit: limit })],
];

describe.each(implementations)("%s", (_name, open) => {
  test("a batch larger than one insert statement is stored whole, in order, with its frames", async () => {
    const store = open(1000);
    const stored = await store.append(Array.from({ length: 75 }, (_, i) => draft(i % 2 ? "odd" : "even", `n${i}`)));
    expect(stored.map((m) => m.id).slice(0, 6)).toEqual([1, 1, 2, 2, 3, 3]);
    expect(store.recent("even", 100).map((m) => m.content)).toEqual(Array.from({ length: 38 }, (_, i) => `n${i * 2}`));
    expect(JSON.parse(stored[4]!.json)).toEqual({ type: "message", id: 3, room: "even", userId: "User-aaaaa", name: "alice", content: "n4", timestamp: "2026-01-01T00:00:00.000Z" });
    store.close();
  });

  test("ids count up by one from 1, per room, in batch order", async () => {
    const store = open(100);
    const stored = await store.append([draft("a", "1"), draft("b", "1"), draft("a", "2")]);
    expect(stored.map((m) => `${m.room}:${m.id}`)).toEqual(["a:1", "b:1", "a:2"]);
    expect(store.lastId("a")).toBe(2);
    expect(store.lastId("never")).toBe(0);
    store.close();
  });

  test("recent returns the newest messages in id order", async () => {
    const store = open(100);
    await fill(store, "r", 10);
    expect(ids(store.recent("r", 3))).toEqual([8, 9, 10]);
    expect(store.recent("r", 3).map((m) => m.content)).toEqual(["m8", "m9", "m10"]);
    expect(store.recent("empty", 3)).toEqual([]);
    store.close();
  });

  test("recent stays current as messages arrive after it was first asked", async () => {
    const store = open(100);
    await fill(store, "c", 3);
    expect(ids(store.recent("c", 50))).toEqual([1, 2, 3]);
    await fill(store, "c", 60, 4);
    expect(ids(store.recent("c", 50))).toEqual(Array.from({ length: 50 }, (_, i) => i + 14));
    expect(ids(store.recent("c", 2))).toEqual([62, 63]);
    expect(ids(store.recent("c", 80))).toHaveLength(63);
    store.close();
  });

  test("recent never returns more than the history limit keeps", async () => {
    const store = open(5);
    await fill(store, "k", 20);
    expect(ids(store.recent("k", 50))).toEqual([16, 17, 18, 19, 20]);
    store.close();
  });

  test("pruning keeps the newest history-limit messages and never lowers the ids", async () => {
    const store = open(10);
    await fill(store, "p", 300);
    expect(ids(store.recent("p", 50))).toEqual(Array.from({ length: 10 }, (_, i) => 291 + i));
    expect(store.lastId("p")).toBe(300);
    const [next] = await store.append([draft("p", "after pruning")]);
    expect(next!.id).toBe(301);
    store.close();
  });

  test("after(since) replays what came after, and counts what cannot be replayed", async () => {
    const store = open(10);
    await fill(store, "s", 30);
    expect(store.after("s", 25, 100)).toMatchObject({ missed: 0 });
    expect(ids(store.after("s", 25, 100).messages)).toEqual([26, 27, 28, 29, 30]);
    // 5..20 were pruned: 15 missed, 21..30 replayed.
    const pruned = store.after("s", 5, 100);
    expect(ids(pruned.messages)).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
    expect([pruned.missed, pruned.pruned]).toEqual([15, 15]);
    // Over the cap: the newest are sent, the rest counted, and they are still stored.
    const capped = store.after("s", 25, 2);
    expect(ids(capped.messages)).toEqual([29, 30]);
    expect([capped.missed, capped.pruned]).toEqual([3, 0]);
    // Both: 5..20 pruned, 21..28 over the cap.
    expect(store.after("s", 5, 2)).toMatchObject({ missed: 23, pruned: 15 });
    expect(store.after("s", 30, 100)).toEqual({ messages: [], missed: 0, pruned: 0 });
    expect(store.after("s", 99, 100)).toEqual({ messages: [], missed: 0, pruned: 0 });
    store.close();
  });

  test("before pages backwards and says when nothing older exists", async () => {
    const store = open(100);
    await fill(store, "b", 7);
    const page1 = store.before("b", 8, 3);
    expect(ids(page1.messages)).toEqual([5, 6, 7]);
    expect(page1.complete).toBe(false);
    const page2 = store.before("b", 5, 3);
    expect(ids(page2.messages)).toEqual([2, 3, 4]);
    expect(page2.complete).toBe(false);
    const page3 = store.before("b", 2, 3);
    expect(ids(page3.messages)).toEqual([1]);
    expect(page3.complete).toBe(true);
    expect(store.before("b", 1, 3)).toEqual({ messages: [], complete: true });
    store.close();
  });

  test("a ref is found for its user only, and forgotten once pruned", async () => {
    const store = open(10);
    await store.append([draft("d", "x", "ref-1", "User-aaaaa")]);
    expect(store.findRef("User-aaaaa", "ref-1")).toEqual({ room: "d", id: 1 });
    expect(store.findRef("User-bbbbb", "ref-1")).toBeUndefined();
    expect(store.findRef("User-aaaaa", "ref-2")).toBeUndefined();
    await fill(store, "d", 200, 2);
    expect(store.findRef("User-aaaaa", "ref-1")).toBeUndefined();
    store.close();
  });

  test("a ref is forgotten as soon as its message is past the history limit, pruned yet or not", async () => {
    const store = open(10);
    await store.append([draft("d", "x", "ref-1")]);
    await fill(store, "d", 9, 2); // ids 1..10: the first is still kept
    expect(store.findRef("User-aaaaa", "ref-1")).toEqual({ room: "d", id: 1 });
    await fill(store, "d", 1, 11); // id 1 is past the limit now, before any prune takes it
    expect(store.findRef("User-aaaaa", "ref-1")).toBeUndefined();
    store.close();
  });

  test("a ref used again after its first message left the history names the new message, through later prunes", async () => {
    const store = open(10);
    await store.append([draft("d", "first", "R")]);
    await fill(store, "d", 16, 2); // id 1 is past the limit
    const [again] = await store.append([draft("d", "second", "R")]); // id 18
    expect(store.findRef("User-aaaaa", "R")).toEqual({ room: "d", id: again!.id });
    await fill(store, "d", 9, 19); // ids up to 27: every store has pruned id 1 (the first "R") by now, and keeps 18
    expect(store.findRef("User-aaaaa", "R")).toEqual({ room: "d", id: again!.id });
    store.close();
  });

  test("rooms looked up by the thousand without messages still get ids from 1", async () => {
    const store = open(10);
    for (let i = 0; i < 3000; i++) expect(store.lastId(`empty-${i}`)).toBe(0);
    await store.append([draft("empty-0", "x")]);
    expect(store.lastId("empty-0")).toBe(1);
    expect(store.recent("empty-0", 5).map((m) => m.content)).toEqual(["x"]);
    expect(store.lastId("empty-2999")).toBe(0);
    store.close();
  });

  test("sessions are saved, replaced, loaded and deleted", () => {
    const store = open(10);
    store.saveSession({ session: "s1", userId: "User-aaaaa", name: "alice", rooms: ["lobby"], savedAt: 1000 });
    store.saveSession({ session: "s1", userId: "User-aaaaa", name: "alice", rooms: ["lobby", "dev"], savedAt: 2000 });
    store.saveSession({ session: "s2", userId: "User-bbbbb", name: "bob", rooms: [], savedAt: 500 });
    expect(store.loadSession("s1")).toEqual({ session: "s1", userId: "User-aaaaa", name: "alice", rooms: ["lobby", "dev"], savedAt: 2000 });
    store.deleteSessionsBefore(1000);
    expect(store.loadSession("s2")).toBeUndefined();
    store.deleteSession("s1");
    expect(store.loadSession("s1")).toBeUndefined();
    store.close();
  });
});

describe("sqlite file", () => {
  test("ids, history, refs and sessions survive closing and reopening", async () => {
    const file = path.join(dir, "reopen.db");
    const first = createSqliteHistory(file, { historyLimit: 100 });
    await first.append([draft("lobby", "one", "r1"), draft("lobby", "two")]);
    first.saveSession({ session: "s", userId: "User-aaaaa", name: "alice", rooms: ["lobby"], savedAt: 1 });
    first.close();

    const second = createSqliteHistory(file, { historyLimit: 100 });
    expect(second.lastId("lobby")).toBe(2);
    expect(second.recent("lobby", 10).map((m) => m.content)).toEqual(["one", "two"]);
    expect(second.findRef("User-aaaaa", "r1")).toEqual({ room: "lobby", id: 1 });
    expect(second.loadSession("s")?.name).toBe("alice");
    const [third] = await second.append([draft("lobby", "three")]);
    expect(third!.id).toBe(3);
    second.close();
  });

  test("a database from schema 1 (fields in columns) is migrated on open", async () => {
    const file = path.join(dir, "v1.db");
    const old = new Database(file, { create: true });
    old.exec(`CREATE TABLE messages (room TEXT NOT NULL, id INTEGER NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL,
      content TEXT NOT NULL, ts TEXT NOT NULL, ref TEXT, PRIMARY KEY (room, id)) WITHOUT ROWID;
      CREATE INDEX messages_by_ref ON messages (user_id, ref) WHERE ref IS NOT NULL;
      CREATE TABLE rooms (room TEXT PRIMARY KEY, last_id INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO messages VALUES ('lobby', 1, 'User-aaaaa', 'alice', 'old "quoted" one', '2026-01-01T00:00:00.000Z', 'r1'),
                                  ('lobby', 2, 'User-bbbbb', 'bob', 'old two', '2026-01-01T00:00:01.000Z', NULL);`);
    old.close();
    const store = createSqliteHistory(file, { historyLimit: 100 });
    const recent = store.recent("lobby", 10);
    expect(recent.map((m) => [m.id, m.name, m.content])).toEqual([[1, "alice", 'old "quoted" one'], [2, "bob", "old two"]]);
    expect(JSON.parse(recent[0]!.json)).toEqual({
      type: "message", id: 1, room: "lobby", userId: "User-aaaaa", name: "alice", content: 'old "quoted" one', timestamp: "2026-01-01T00:00:00.000Z",
    });
    expect(store.findRef("User-aaaaa", "r1")).toEqual({ room: "lobby", id: 1 });
    const [next] = await store.append([draft("lobby", "new")]);
    expect(next!.id).toBe(3);
    store.close();
  });

  test("a checkpointer copies the WAL into the database file while the store is open", async () => {
    const file = path.join(dir, "checkpointed.db");
    const warnings: string[] = [];
    const store = createSqliteHistory(file, { historyLimit: 100, warn: (event) => warnings.push(event) });
    await store.append(Array.from({ length: 40 }, (_, i) => draft("lobby", `m${i + 1}`))); // straight into the WAL
    // Until a checkpoint copies the WAL's pages into it, the file is its first page alone
    // (SQLite's own checkpoints are off: they ran inside our commits).
    const pages = () => statSync(file).size / 4096;
    for (let i = 0; i < 60 && pages() <= 1; i++) await Bun.sleep(50);
    expect(pages()).toBeGreaterThan(1);
    expect(warnings).toEqual([]);
    store.close();
  });

  test("creates the folder of a new database file", () => {
    const store = createSqliteHistory(path.join(dir, "nested", "deeper", "chat.db"), { historyLimit: 10 });
    expect(store.lastId("x")).toBe(0);
    store.close();
  });

  test("one batch of a room, stored as several chunks, reads back whole and is cut at the limit", async () => {
    const store = createSqliteHistory(path.join(dir, "chunks.db"), { historyLimit: 100 });
    await store.append(Array.from({ length: 150 }, (_, i) => draft("big", `b${i + 1}`)));
    await store.append([draft("big", "b151", "last-ref")]);
    expect(store.lastId("big")).toBe(151);
    expect(ids(store.recent("big", 3))).toEqual([149, 150, 151]);
    const replay = store.after("big", 0, 1000);
    expect(ids(replay.messages)).toEqual(Array.from({ length: 100 }, (_, i) => i + 52));
    expect(replay.missed).toBe(51);
    const page = store.before("big", 66, 5);
    expect(page.messages.map((m) => m.content)).toEqual(["b61", "b62", "b63", "b64", "b65"]);
    const oldest = store.before("big", 54, 5);
    expect([ids(oldest.messages), oldest.complete]).toEqual([[52, 53], true]);
    expect(store.findRef("User-aaaaa", "last-ref")).toEqual({ room: "big", id: 151 });
    store.close();
  });

  test("a database from schema 2 (a row per message) is migrated on open", async () => {
    const file = path.join(dir, "v2.db");
    const old = new Database(file, { create: true });
    const frame = (id: number, content: string) => JSON.stringify({ type: "message", id, room: "lobby", userId: "User-aaaaa", name: "alice", content, timestamp: "2026-01-01T00:00:00.000Z" });
    old.exec(`CREATE TABLE messages (room TEXT NOT NULL, id INTEGER NOT NULL, user_id TEXT NOT NULL, ref TEXT, frame TEXT NOT NULL,
      PRIMARY KEY (room, id)) WITHOUT ROWID;
      CREATE INDEX messages_by_ref ON messages (user_id, ref) WHERE ref IS NOT NULL;
      CREATE TABLE sessions (session TEXT PRIMARY KEY, user_id TEXT NOT NULL, name TEXT NOT NULL, rooms TEXT NOT NULL, saved_at INTEGER NOT NULL) WITHOUT ROWID;
      PRAGMA user_version = 2;`);
    old.run("INSERT INTO messages VALUES ('lobby', 7, 'User-aaaaa', 'r7', ?), ('lobby', 8, 'User-aaaaa', NULL, ?)", [frame(7, "seven"), frame(8, "line\nbreak")]);
    old.close();
    const store = createSqliteHistory(file, { historyLimit: 100 });
    expect(store.recent("lobby", 10).map((m) => [m.id, m.content])).toEqual([[7, "seven"], [8, "line\nbreak"]]);
    expect(store.findRef("User-aaaaa", "r7")).toEqual({ room: "lobby", id: 7 });
    const [next] = await store.append([draft("lobby", "nine")]);
    expect(next!.id).toBe(9);
    store.close();
  });

  test("a database from schema 3 (chunks keyed by room) is migrated on open", async () => {
    const file = path.join(dir, "v3.db");
    const old = new Database(file, { create: true });
    const frame = (id: number) => JSON.stringify({ type: "message", id, room: "lobby", userId: "User-aaaaa", name: "alice", content: `m${id}`, timestamp: "2026-01-01T00:00:00.000Z" });
    old.exec(`CREATE TABLE chunks (room TEXT NOT NULL, first_id INTEGER NOT NULL, last_id INTEGER NOT NULL, frames TEXT NOT NULL,
      PRIMARY KEY (room, first_id)) WITHOUT ROWID;
      CREATE TABLE refs (user_id TEXT NOT NULL, ref TEXT NOT NULL, room TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (user_id, ref)) WITHOUT ROWID;
      CREATE INDEX refs_by_room ON refs (room, id);
      CREATE TABLE sessions (session TEXT PRIMARY KEY, user_id TEXT NOT NULL, name TEXT NOT NULL, rooms TEXT NOT NULL, saved_at INTEGER NOT NULL) WITHOUT ROWID;
      PRAGMA user_version = 3;`);
    old.run("INSERT INTO chunks VALUES ('lobby', 1, 2, ?), ('lobby', 3, 3, ?)", [`${frame(1)}\n${frame(2)}`, frame(3)]);
    old.run("INSERT INTO refs VALUES ('User-aaaaa', 'r2', 'lobby', 2)");
    old.close();
    const store = createSqliteHistory(file, { historyLimit: 100 });
    expect(store.recent("lobby", 10).map((m) => m.content)).toEqual(["m1", "m2", "m3"]);
    expect(store.findRef("User-aaaaa", "r2")).toEqual({ room: "lobby", id: 2 });
    const [next] = await store.append([draft("lobby", "m4")]);
    expect(next!.id).toBe(4);
    store.close();
  });

  test("sessions saved soon are written together at the turn's end; reads, deletes, saves and close see them before that", async () => {
    const file = path.join(dir, "sessions.db");
    const store = createSqliteHistory(file, { historyLimit: 10 });
    const session = (name: string, savedAt = 1) => ({ session: name, userId: `User-${name}`, name, rooms: ["lobby"], savedAt });
    const onDisk = (name: string) => {
      const db = new Database(file, { readonly: true });
      try {
        return db.query("SELECT name FROM sessions WHERE session = ?").get(name) !== null;
      } finally {
        db.close();
      }
    };
    store.saveSessionSoon!(session("one"));
    store.saveSessionSoon!(session("two"));
    store.saveSessionSoon!(session("gone"));
    store.deleteSession("gone");
    // A save that must be stored now is, and is not overwritten by the older one waiting.
    store.saveSessionSoon!(session("now", 1));
    store.saveSession(session("now", 2));
    expect(onDisk("now")).toBe(true);
    // Not written yet, and read all the same.
    expect(onDisk("one")).toBe(false);
    expect(store.loadSession("one")?.name).toBe("one");
    await new Promise((resolve) => setImmediate(resolve));
    expect([onDisk("one"), onDisk("two"), onDisk("gone")]).toEqual([true, true, false]);
    expect(store.loadSession("gone")).toBeUndefined();
    expect(store.loadSession("now")?.savedAt).toBe(2);

    // Sweeping old sessions takes the unwritten ones into account.
    store.saveSessionSoon!(session("old", 5));
    store.deleteSessionsBefore(10);
    expect(store.loadSession("old")).toBeUndefined();
    // Closing writes what is still waiting.
    store.saveSessionSoon!(session("last"));
    store.close();
    expect(onDisk("last")).toBe(true);
  });

  test("a failed batch gives its ids again", async () => {
    const store = createSqliteHistory(":memory:", { historyLimit: 10 });
    await store.append([draft("f", "1")]);
    // A NOT NULL violation makes the transaction fail after the ids were handed out.
    expect(() => store.append([draft("f", "2"), { ...draft("f", "3", "r3"), userId: null as unknown as string }])).toThrow();
    expect(store.lastId("f")).toBe(1);
    const [next] = await store.append([draft("f", "2")]);
    expect(next!.id).toBe(2);
    store.close();
  });
});
