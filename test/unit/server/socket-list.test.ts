import { describe, expect, test } from "bun:test";
import { SocketList } from "../../../src/server/socket-list.ts";

const socket = (name: string) => ({ name, data: { slot: -1 } });

describe("SocketList", () => {
  test("adds, removes from any place, and keeps every other socket", () => {
    const list = new SocketList<ReturnType<typeof socket>>();
    const [a, b, c, d] = ["a", "b", "c", "d"].map(socket) as [ReturnType<typeof socket>, ReturnType<typeof socket>, ReturnType<typeof socket>, ReturnType<typeof socket>];
    for (const s of [a, b, c, d]) list.add(s);
    expect(list.size).toBe(4);
    list.delete(b); // d moves into b's place
    expect(list.snapshot().map((s) => s.name).sort()).toEqual(["a", "c", "d"]);
    list.delete(d);
    list.delete(a);
    expect(list.snapshot().map((s) => s.name)).toEqual(["c"]);
    list.delete(c);
    expect(list.size).toBe(0);
  });

  test("removing a socket twice, or one never added, changes nothing", () => {
    const list = new SocketList<ReturnType<typeof socket>>();
    const [a, b] = [socket("a"), socket("b")];
    list.add(a);
    list.add(b);
    list.delete(a);
    list.delete(a);
    list.delete(socket("stranger"));
    expect(list.snapshot().map((s) => s.name)).toEqual(["b"]);
  });

  test("a snapshot stays whole while sockets are removed during the walk (as closing them does)", () => {
    const list = new SocketList<ReturnType<typeof socket>>();
    const all = Array.from({ length: 10 }, (_, i) => socket(`s${i}`));
    for (const s of all) list.add(s);
    const seen: string[] = [];
    for (const s of list.snapshot()) {
      seen.push(s.name);
      list.delete(s);
    }
    expect(seen.sort()).toEqual(all.map((s) => s.name).sort());
    expect(list.size).toBe(0);
  });
});
