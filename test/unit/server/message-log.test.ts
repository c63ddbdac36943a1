import { describe, expect, test } from "bun:test";
import { createMemoryHistory } from "../../../src/server/history/memory.ts";
import type { HistoryStore } from "../../../src/server/history/store.ts";
import { MessageLog } from "../../../src/server/message-log.ts";

function setup(store: HistoryStore = createMemoryHistory({ historyLimit: 100 })) {
  const published: Array<{ room: string; frame: Record<string, unknown> }> = [];
  const errors: unknown[] = [];
  const told: string[] = [];
  // Senders are just names here; the server's are sockets.
  const log = new MessageLog<string>({
    store,
    publish: (room, text) => published.push({ room, frame: JSON.parse(text) }),
    ack: (who, _ref, room, id) => told.push(`${who} ack ${room}:${id}`),
    fail: (who, _ref, code) => told.push(`${who} ${code}`),
    onStoreError: (error) => errors.push(error),
  });
  const submitter = (who: string) => who;
  return { log, store, published, errors, told, submitter };
}

describe("MessageLog", () => {
  test("messages of one turn are stored in one batch, then published and acked in order", async () => {
    const { log, store, published, told, submitter } = setup();
    let batches = 0;
    const append = store.append.bind(store);
    store.append = (drafts) => {
      batches++;
      return append(drafts);
    };
    log.submit("lobby", "User-a", "ann", "one", "r1", submitter("ann"));
    log.submit("lobby", "User-b", "ben", "two", undefined, submitter("ben"));
    expect(published).toEqual([]); // nothing is seen before it is stored
    await log.flush();
    expect(batches).toBe(1);
    expect(published.map((p) => [p.frame.id, p.frame.content])).toEqual([[1, "one"], [2, "two"]]);
    expect(told).toEqual(["ann ack lobby:1"]); // ben sent no ref: nothing to acknowledge
  });

  test("the published frame carries no ref", async () => {
    const { log, published, submitter } = setup();
    log.submit("lobby", "User-a", "ann", "secret ref", "r1", submitter("ann"));
    await log.flush();
    expect(published[0]!.frame).toEqual({
      type: "message", id: 1, room: "lobby", userId: "User-a", name: "ann", content: "secret ref", timestamp: expect.any(String),
    });
  });

  test("a repeated ref is acked with the first id and not stored or published twice", async () => {
    const { log, store, published, told, submitter } = setup();
    log.submit("lobby", "User-a", "ann", "once", "r1", submitter("first"));
    log.submit("lobby", "User-a", "ann", "once", "r1", submitter("same turn"));
    await log.flush();
    log.submit("lobby", "User-a", "ann", "once", "r1", submitter("later"));
    await log.flush();
    expect(published).toHaveLength(1);
    expect(store.recent("lobby", 10)).toHaveLength(1);
    expect(told).toEqual(["first ack lobby:1", "same turn ack lobby:1", "later ack lobby:1"]);
  });

  test("a ref sent again while its batch is still being stored is acked with that id, stored once", async () => {
    const memory = createMemoryHistory({ historyLimit: 100 });
    // A store that commits later (SQLite's writer thread, Redis): held until released.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const store: HistoryStore = { ...memory, append: async (drafts) => { await held; return memory.append(drafts); } };
    const { log, published, told, submitter } = setup(store);
    log.submit("lobby", "User-a", "ann", "once", "r1", submitter("first"));
    const first = log.flush();
    await Bun.sleep(0);
    log.submit("lobby", "User-a", "ann", "once", "r1", submitter("resent"));
    const second = log.flush();
    release();
    await Promise.all([first, second]);
    expect(published).toHaveLength(1);
    expect(memory.recent("lobby", 10)).toHaveLength(1);
    expect(told).toEqual(["first ack lobby:1", "resent ack lobby:1"]);
  });

  test("the same ref from another user is another message", async () => {
    const { log, published, submitter } = setup();
    log.submit("lobby", "User-a", "ann", "x", "r1", submitter("ann"));
    log.submit("lobby", "User-b", "ben", "x", "r1", submitter("ben"));
    await log.flush();
    expect(published).toHaveLength(2);
  });

  test("when the store fails nothing is published and every sender is told", async () => {
    const store = createMemoryHistory({ historyLimit: 100 });
    store.append = () => {
      throw new Error("disk full");
    };
    const { log, published, errors, told, submitter } = setup(store);
    log.submit("lobby", "User-a", "ann", "lost?", "r1", submitter("ann"));
    log.submit("lobby", "User-a", "ann", "lost?", "r1", submitter("ann again"));
    await log.flush();
    expect(published).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(told).toEqual(["ann unavailable", "ann again unavailable"]);
  });

  test("it flushes by itself at the end of the turn", async () => {
    const { log, published } = setup();
    log.submit("lobby", "User-a", "ann", "auto", undefined, "ann");
    await new Promise((resolve) => setImmediate(resolve));
    await Bun.sleep(0);
    expect(published).toHaveLength(1);
  });
});
