// The pending journal beside a SQLite history file: what a crash leaves in it is in
// history after the next open, exactly once, and a cut-off last line is dropped.
import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createSqliteHistory } from "../../../../src/server/history/sqlite.ts";
import type { DraftMessage } from "../../../../src/server/history/store.ts";

const dir = mkdtempSync(path.join(tmpdir(), "chat-journal-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newFile = () => path.join(dir, `j${++files}.db`);

const draft = (room: string, content: string, ref?: string): DraftMessage => ({
  type: "message", room, userId: "User-aaaaa", name: "alice", content, timestamp: "2026-01-01T00:00:00.000Z", ...(ref ? { ref } : {}),
});
const contents = (messages: { content: string }[]) => messages.map((m) => m.content);

/** What a SIGKILL leaves on disk: the database, its WAL and the journal, copied while the store is still open. */
function crashCopy(file: string): string {
  const copy = newFile();
  for (const suffix of ["", "-wal", "-pending"]) if (existsSync(file + suffix)) copyFileSync(file + suffix, copy + suffix);
  return copy;
}

describe("sqlite pending journal", () => {
  test("messages only in the journal at a crash are in history after the next open, ids and refs included", () => {
    const file = newFile();
    const live = createSqliteHistory(file, { historyLimit: 100 });
    live.append([draft("lobby", "one"), draft("lobby", "two", "r2")]);
    expect(contents(live.recent("lobby", 10))).toEqual(["one", "two"]); // a read: the database takes them
    live.append([draft("lobby", "three", "r3"), draft("side", "elsewhere")]);
    live.append([draft("lobby", "four")]);
    expect(readFileSync(`${file}-pending`, "utf8").split("\n")).toHaveLength(4); // three lines and the last newline
    const copy = crashCopy(file);
    live.close();

    const reopened = createSqliteHistory(copy, { historyLimit: 100 });
    expect(reopened.recent("lobby", 10).map((m) => [m.id, m.content])).toEqual([[1, "one"], [2, "two"], [3, "three"], [4, "four"]]);
    expect(contents(reopened.recent("side", 10))).toEqual(["elsewhere"]);
    expect(reopened.findRef("User-aaaaa", "r3")).toEqual({ room: "lobby", id: 3 });
    expect(reopened.findRef("User-aaaaa", "r2")).toEqual({ room: "lobby", id: 2 });
    const [five] = reopened.append([draft("lobby", "five")]);
    expect(five!.id).toBe(5);
    reopened.close();
    expect(existsSync(`${copy}-pending`)).toBe(false); // a clean close leaves no journal
  });

  test("lines the database took before a crash cut the journal short are not stored twice", () => {
    const file = newFile();
    const live = createSqliteHistory(file, { historyLimit: 100 });
    live.append([draft("lobby", "one"), draft("lobby", "two")]);
    const lines = readFileSync(`${file}-pending`, "utf8");
    live.recent("lobby", 10); // the database takes them and the journal is emptied...
    live.append([draft("lobby", "three")]);
    const copy = crashCopy(file);
    live.close();
    // ...but say the crash came before it was emptied: the old lines precede the new one.
    writeFileSync(`${copy}-pending`, lines + readFileSync(`${copy}-pending`, "utf8"));

    const reopened = createSqliteHistory(copy, { historyLimit: 100 });
    expect(reopened.after("lobby", 0, 100).messages.map((m) => m.id)).toEqual([1, 2, 3]);
    reopened.close();
  });

  test("a last line cut off by a crash is dropped (it was never acknowledged); the rest is kept", () => {
    const file = newFile();
    const live = createSqliteHistory(file, { historyLimit: 100 });
    live.append([draft("lobby", "one")]);
    const copy = crashCopy(file);
    live.close();
    appendFileSync(`${copy}-pending`, '{"type":"message","id":2,"room":"lob');

    const reopened = createSqliteHistory(copy, { historyLimit: 100 });
    expect(contents(reopened.recent("lobby", 10))).toEqual(["one"]);
    expect(reopened.append([draft("lobby", "two")])[0]!.id).toBe(2);
    reopened.close();
  });

  test("a damaged line in the middle stops the open with the file and line named", () => {
    const file = newFile();
    const live = createSqliteHistory(file, { historyLimit: 100 });
    live.append([draft("lobby", "one")]);
    live.append([draft("lobby", "two")]);
    const copy = crashCopy(file);
    live.close();
    const [first, second] = readFileSync(`${copy}-pending`, "utf8").split("\n");
    writeFileSync(`${copy}-pending`, `${first}\nnot json\n${second}\n`);
    expect(() => createSqliteHistory(copy, { historyLimit: 100 })).toThrow(`${copy}-pending: line 2 is damaged`);
  });

  test("a large batch goes straight into the database, taking what was pending before it", () => {
    const file = newFile();
    const live = createSqliteHistory(file, { historyLimit: 1000 });
    live.append([draft("lobby", "small", "r1")]);
    expect(readFileSync(`${file}-pending`, "utf8")).toContain('"small"');
    live.append(Array.from({ length: 40 }, (_, i) => draft("lobby", `big${i + 1}`)));
    expect(readFileSync(`${file}-pending`, "utf8")).toBe("");
    live.append([draft("lobby", "after")]);
    const copy = crashCopy(file);
    live.close();

    const reopened = createSqliteHistory(copy, { historyLimit: 1000 });
    const all = reopened.after("lobby", 0, 1000).messages;
    expect(all.map((m) => m.id)).toEqual(Array.from({ length: 42 }, (_, i) => i + 1));
    expect([all[0]!.content, all[1]!.content, all[41]!.content]).toEqual(["small", "big1", "after"]);
    expect(reopened.findRef("User-aaaaa", "r1")).toEqual({ room: "lobby", id: 1 });
    reopened.close();
  });

  test("a ref is forgotten once its message is beyond the history limit, before the database prunes it", () => {
    const store = createSqliteHistory(newFile(), { historyLimit: 3 });
    store.append([draft("lobby", "one", "r1")]);
    expect(store.findRef("User-aaaaa", "r1")).toEqual({ room: "lobby", id: 1 });
    store.append([draft("lobby", "two"), draft("lobby", "three")]);
    expect(store.findRef("User-aaaaa", "r1")).toEqual({ room: "lobby", id: 1 });
    store.append([draft("lobby", "four")]);
    expect(store.findRef("User-aaaaa", "r1")).toBeUndefined();
    store.close();
  });
});
