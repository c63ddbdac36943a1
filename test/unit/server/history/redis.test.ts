// The Redis store keeps the same contract as the local ones (store.test.ts), against
// a private redis-server; plus what only a shared store does: two nodes share ids,
// history and refs.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { RedisLink } from "../../../../src/server/cluster/redis-link.ts";
import { createRedisHistory } from "../../../../src/server/history/redis.ts";
import type { DraftMessage, HistoryStore } from "../../../../src/server/history/store.ts";
import { silentLogger } from "../../../../src/server/log.ts";
import { startRedis, type RedisProcess } from "../../../cluster-helpers.ts";

let redis: RedisProcess;
const links: RedisLink[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const link of links) link.close();
  await redis.stop();
});
beforeEach(async () => {
  const link = await open();
  await link.send("FLUSHALL", []);
});

async function open(): Promise<RedisLink> {
  const link = await RedisLink.connect(redis.url, () => {}, silentLogger);
  links.push(link);
  return link;
}
async function store(limit: number): Promise<HistoryStore> {
  return createRedisHistory(await open(), { historyLimit: limit });
}

const draft = (room: string, content: string, ref?: string, userId = "User-aaaaa"): DraftMessage => ({
  type: "message", room, userId, name: "alice", content, timestamp: "2026-01-01T00:00:00.000Z", ...(ref ? { ref } : {}),
});
async function fill(s: HistoryStore, room: string, n: number, from = 1) {
  for (let i = from; i < from + n; i++) await s.append([draft(room, `m${i}`)]);
}
const ids = (messages: { id: number }[]) => messages.map((m) => m.id);

describe("redis store", () => {
  test("ids count up by one from 1, per room, in batch order, with the frame each client sees", async () => {
    const s = await store(100);
    const stored = await s.append([draft("a", "1"), draft("b", "1"), draft("a", "2")]);
    expect(stored.map((m) => `${m.room}:${m.id}`)).toEqual(["a:1", "b:1", "a:2"]);
    expect(JSON.parse(stored[2]!.json)).toEqual({ type: "message", id: 2, room: "a", userId: "User-aaaaa", name: "alice", content: "2", timestamp: "2026-01-01T00:00:00.000Z" });
    expect(await s.lastId("a")).toBe(2);
    expect(await s.lastId("never")).toBe(0);
  });

  test("recent, after and before read the stream as the local stores read their tables", async () => {
    const s = await store(10);
    await fill(s, "r", 30);
    expect(ids(await s.recent("r", 3))).toEqual([28, 29, 30]);
    expect(ids(await s.recent("r", 50))).toEqual(Array.from({ length: 10 }, (_, i) => 21 + i));
    expect(await s.recent("empty", 3)).toEqual([]);
    const pruned = await s.after("r", 5, 100);
    expect(ids(pruned.messages)).toEqual(Array.from({ length: 10 }, (_, i) => 21 + i));
    expect([pruned.missed, pruned.pruned]).toEqual([15, 15]);
    const capped = await s.after("r", 25, 2);
    expect([ids(capped.messages), capped.missed, capped.pruned]).toEqual([[29, 30], 3, 0]);
    expect(await s.after("r", 30, 100)).toEqual({ messages: [], missed: 0, pruned: 0 });
    const page = await s.before("r", 25, 3);
    expect([ids(page.messages), page.complete]).toEqual([[22, 23, 24], false]);
    expect((await s.before("r", 22, 3)).complete).toBe(true);
    expect(await s.before("r", 1, 3)).toEqual({ messages: [], complete: true });
  });

  test("pruning never lowers the ids", async () => {
    const s = await store(5);
    await fill(s, "p", 20);
    const [next] = await s.append([draft("p", "after pruning")]);
    expect(next!.id).toBe(21);
  });

  test("two nodes share ids and history: a second store continues where the first stopped", async () => {
    const first = await store(100);
    const second = await store(100);
    await fill(first, "shared", 3);
    const [next] = await second.append([draft("shared", "from the other node")]);
    expect(next!.id).toBe(4);
    expect((await first.recent("shared", 10)).map((m) => m.content)).toEqual(["m1", "m2", "m3", "from the other node"]);
  });

  test("a repeated ref is answered with the first id, on any node, and not stored again", async () => {
    const first = await store(100);
    const second = await store(100);
    const [original] = await first.append([draft("d", "once", "ref-1")]);
    const [again] = await second.append([draft("d", "once", "ref-1")]);
    expect(again).toMatchObject({ room: "d", id: original!.id, duplicate: true });
    const [otherUser] = await second.append([draft("d", "once", "ref-1", "User-bbbbb")]);
    expect(otherUser!.duplicate).toBeUndefined();
    expect((await first.recent("d", 10)).map((m) => m.userId)).toEqual(["User-aaaaa", "User-bbbbb"]);
  });

  test("sessions are saved, replaced, loaded and deleted", async () => {
    const s = await store(10);
    await s.saveSession({ session: "s1", userId: "User-aaaaa", name: "alice", rooms: ["lobby"], savedAt: 1000 });
    await s.saveSession({ session: "s1", userId: "User-aaaaa", name: "alice", rooms: ["lobby", "dev"], savedAt: 2000 });
    expect(await s.loadSession("s1")).toEqual({ session: "s1", userId: "User-aaaaa", name: "alice", rooms: ["lobby", "dev"], savedAt: 2000 });
    await s.deleteSession("s1");
    expect(await s.loadSession("s1")).toBeUndefined();
  });

  test("with Redis gone, an append fails at once instead of hanging", async () => {
    const s = await store(10);
    await redis.kill();
    try {
      const started = Date.now();
      await expect(Promise.resolve(s.append([draft("x", "lost?")]))).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await redis.start();
    }
  });
});
