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
    // A large batch goes to the database, and takes the two pending ones with it.
    live.append(Array.from({ length: 40 }, (_, i) => draft("lobby", `big${i + 3}`)));
    live.append([draft("lobby", "three", "r3"), draft("side", "elsewhere")]);
    live.append([draft("lobby", "four")]);
    expect(readFileSync(`${file}-pending`, "utf8").split("\n")).toHaveLength(4); // three lines and the last newline
    const copy = crashCopy(file);
    live.close();

    const reopened = createSqliteHistory(copy, { historyLimit: 100 });
    expect(reopened.recent("lobby", 4).map((m) => [m.id, m.content])).toEqual([[41, "big41"], [42, "big42"], [43, "three"], [44, "four"]]);
    expect(contents(reopened.after("lobby", 0, 2).messages)).toEqual(["three", "four"]);
    expect(contents(reopened.before("lobby", 3, 10).messages)).toEqual(["one", "two"]);
    expect(contents(reopened.recent("side", 10))).toEqual(["elsewhere"]);
    expect(reopened.findRef("User-aaaaa", "r3")).toEqual({ room: "lobby", id: 43 });
    expect(reopened.findRef("User-aaaaa", "r2")).toEqual({ room: "lobby", id: 2 });
    const [next] = reopened.append([draft("lobby", "five")]);
    expect(next!.id).toBe(45);
    reopened.close();
    expect(existsSync(`${copy}-pending`)).toBe(false); // a clean close leaves no journal
  });

  test("lines the database took before a crash cut the journal short are not stored twice", () => {
    const file = newFile();
    const live = createSqliteHistory(file, { historyLimit: 100 });
    live.append([draft("lobby", "one"), draft("lobby", "two")]);
    const lines = readFileSync(`${file}-pending`, "utf8");
    // The database takes them with a large batch and the journal is emptied...
    live.append(Array.from({ length: 40 }, (_, i) => draft("lobby", `big${i + 3}`)));
    live.append([draft("lobby", "forty-three")]);
    const copy = crashCopy(file);
    live.close();
    // ...but say the crash came before it was emptied: the old lines precede the new one.
    writeFileSync(`${copy}-pending`, lines + readFileSync(`${copy}-pending`, "utf8"));

    const reopened = createSqliteHistory(copy, { historyLimit: 100 });
    expect(reopened.after("lobby", 0, 100).messages.map((m) => m.id)).toEqual(Array.from({ length: 43 }, (_, i) => i + 1));
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

  test("a damaged line in the middle is skipped and reported; the lines around it are kept", () => {
    const file = newFile();
    const live = createSqliteHistory(file, { historyLimit: 100 });
    live.append([draft("lobby", "one")]);
    live.append([draft("lobby", "two")]);
    const copy = crashCopy(file);
    live.close();
    const [first, second] = readFileSync(`${copy}-pending`, "utf8").split("\n");
    writeFileSync(`${copy}-pending`, `${first}\nnot json\n${second}\n`);
    const warnings: string[] = [];
    const reopened = createSqliteHistory(copy, { historyLimit: 100, warn: (event, fields) => warnings.push(`${event} ${JSON.stringify(fields)}`) });
    expect(contents(reopened.recent("lobby", 10))).toEqual(["one", "two"]);
    expect(warnings).toEqual([`history_journal_damaged {"file":"${copy}-pending","lines":1,"first":2}`]);
    reopened.close();
  });

  test("journal lines ahead of a database that lost the end of its WAL (a power cut) are kept, the gap reported", () => {
    const file = newFile();
    const live = createSqliteHistory(file, { historyLimit: 100 });
    live.append(Array.from({ length: 40 }, (_, i) => draft("lobby", `in the WAL ${i + 1}`))); // straight to the database
    live.append([draft("lobby", "journal 41")]);
    live.append([draft("lobby", "journal 42")]);
    const copy = newFile();
    copyFileSync(file, copy); // the database file without its WAL...
    copyFileSync(`${file}-pending`, `${copy}-pending`); // ...and the journal
    live.close();
    const warnings: string[] = [];
    const reopened = createSqliteHistory(copy, { historyLimit: 100, warn: (event) => warnings.push(event) });
    expect(reopened.recent("lobby", 10).map((m) => [m.id, m.content])).toEqual([[41, "journal 41"], [42, "journal 42"]]);
    expect(warnings).toEqual(["history_journal_gap"]);
    expect(reopened.append([draft("lobby", "next")])[0]!.id).toBe(43);
    reopened.close();
  });

  test("reads see pending messages without committing them", () => {
    const file = newFile();
    const store = createSqliteHistory(file, { historyLimit: 100 });
    store.append(Array.from({ length: 40 }, (_, i) => draft("lobby", `db${i + 1}`)));
    store.append([draft("lobby", "p41")]);
    store.append([draft("lobby", "p42"), draft("other", "o1")]);
    expect(contents(store.recent("lobby", 3))).toEqual(["db40", "p41", "p42"]);
    expect(store.after("lobby", 39, 10).messages.map((m) => m.id)).toEqual([40, 41, 42]);
    expect(store.before("lobby", 42, 2).messages.map((m) => m.id)).toEqual([40, 41]);
    expect(contents(store.after("other", 0, 10).messages)).toEqual(["o1"]);
    expect(readFileSync(`${file}-pending`, "utf8").split("\n")).toHaveLength(4); // still three pending lines
    store.close();
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

  test("past 4,096 pending messages the database takes them a slice per turn; a crash half-way stores each once", async () => {
    const file = newFile();
    const live = createSqliteHistory(file, { historyLimit: 10_000 });
    for (let i = 1; i <= 4096; i++) live.append([draft(i % 2 === 0 ? "even" : "odd", `m${i}`)]);
    // The first slice is in the database now, the rest follows turn by turn; the journal keeps every line meanwhile.
    const halfWay = crashCopy(file);
    expect(readFileSync(`${file}-pending`, "utf8").split("\n")).toHaveLength(4097);
    for (let turn = 0; turn < 200 && readFileSync(`${file}-pending`, "utf8") !== ""; turn++) await Bun.sleep(5);
    expect(readFileSync(`${file}-pending`, "utf8")).toBe("");
    expect(live.after("odd", 0, 5000).messages).toHaveLength(2048);
    live.close();

    const reopened = createSqliteHistory(halfWay, { historyLimit: 10_000 });
    for (const room of ["odd", "even"]) {
      expect(reopened.after(room, 0, 5000).messages.map((m) => m.id)).toEqual(Array.from({ length: 2048 }, (_, i) => i + 1));
    }
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
