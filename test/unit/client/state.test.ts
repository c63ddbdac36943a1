import { describe, expect, test } from "bun:test";
import type { ServerFrame } from "../../../src/protocol.ts";
import { ClientState } from "../../../src/client/state.ts";

const T = "2026-01-01T00:00:00.000Z";
const limits = { maxContentBytes: 4096, maxPayloadBytes: 65536, maxRoomsPerConnection: 100, rate: 20, burst: 40 };
const welcome: ServerFrame = {
  type: "system", event: "welcome", content: "hi", userId: "User-me000", name: "me", rooms: ["lobby"], session: "s", limits, timestamp: T,
};
const system = (event: "join" | "leave", userId: string, room: string): ServerFrame =>
  ({ type: "system", event, userId, name: userId, room, content: "", timestamp: T });

describe("ClientState", () => {
  test("the welcome gives identity and rooms", () => {
    const state = new ClientState();
    expect(state.apply(welcome)).toBe(true);
    expect(state.self).toEqual({ userId: "User-me000", name: "me" });
    expect(state.currentRoom).toBe("lobby");
  });

  test("a resumed welcome keeps our order of the rooms (the current one stays); a new identity takes the server's", () => {
    const state = new ClientState();
    state.apply({ ...welcome, rooms: ["lobby", "dev"] } as ServerFrame);
    state.focus("lobby");
    expect(state.rooms).toEqual(["dev", "lobby"]);
    state.apply({ ...welcome, rooms: ["lobby", "dev"] } as ServerFrame);
    expect(state.currentRoom).toBe("lobby");
    state.apply({ ...welcome, userId: "User-new00", rooms: ["lobby", "dev"] } as ServerFrame);
    expect(state.currentRoom).toBe("dev");
  });

  test("re-joining after a reconnect: our own join notice and the presence are noise, and the current room stays", () => {
    const state = new ClientState();
    state.apply({ ...welcome, rooms: ["lobby", "dev"] } as ServerFrame);
    state.focus("lobby");
    state.startReplay("dev");
    const notice = system("join", "User-me000", "dev");
    expect(state.isRejoinNoise(notice)).toBe(true);
    expect(state.apply(notice)).toBe(false);
    expect(state.currentRoom).toBe("lobby");
    expect(state.isRejoinNoise({ type: "presence", room: "dev", users: [], timestamp: T })).toBe(true);
    expect(state.isRejoinNoise(system("join", "User-other", "dev"))).toBe(false);
    state.endReplay("dev");
    expect(state.isRejoinNoise(notice)).toBe(false);
  });

  test("our own joins and leaves change the rooms; the last joined is current", () => {
    const state = new ClientState();
    state.apply(welcome);
    state.apply(system("join", "User-me000", "dev"));
    state.apply(system("join", "User-me000", "ops"));
    expect(state.rooms).toEqual(["lobby", "dev", "ops"]);
    state.apply(system("join", "User-me000", "dev"));
    expect(state.rooms).toEqual(["lobby", "ops", "dev"]);
    state.apply(system("leave", "User-me000", "dev"));
    expect(state.currentRoom).toBe("ops");
  });

  test("other people's joins and leaves do not change our rooms", () => {
    const state = new ClientState();
    state.apply(welcome);
    expect(state.apply(system("join", "User-other", "dev"))).toBe(false);
    expect(state.apply(system("leave", "User-other", "lobby"))).toBe(false);
    expect(state.rooms).toEqual(["lobby"]);
    expect(state.names.has("User-other")).toBe(true);
  });

  test("a nick renames us only when it is ours, and updates the known names", () => {
    const state = new ClientState();
    state.apply(welcome);
    const nick = (userId: string, oldName: string, name: string): ServerFrame =>
      ({ type: "system", event: "nick", userId, name, oldName, content: "", timestamp: T });
    expect(state.apply(nick("User-other", "bob", "robert"))).toBe(false);
    expect(state.self?.name).toBe("me");
    expect(state.apply(nick("User-me000", "me", "myself"))).toBe(true);
    expect(state.self?.name).toBe("myself");
    expect([...state.names]).toEqual(["robert", "myself"]);
  });

  test("focusing a joined room makes it current without leaving the others; other rooms are refused", () => {
    const state = new ClientState();
    state.apply(welcome);
    state.apply(system("join", "User-me000", "dev"));
    expect(state.focus("lobby")).toBe(true);
    expect(state.currentRoom).toBe("lobby");
    expect(state.rooms).toEqual(["dev", "lobby"]);
    expect(state.focus("lobby")).toBe(false);
    expect(state.focus("elsewhere")).toBe(false);
    expect(state.rooms).toEqual(["dev", "lobby"]);
    // Leaving the current room goes back to the one shown before it.
    state.apply(system("leave", "User-me000", "lobby"));
    expect(state.currentRoom).toBe("dev");
  });

  test("names are learned from messages, presence and a room's history", () => {
    const state = new ClientState();
    state.apply({ type: "message", id: 1, room: "lobby", userId: "User-a", name: "ann", content: "x", timestamp: T });
    state.apply({ type: "presence", room: "lobby", users: [{ userId: "User-b", name: "ben" }], timestamp: T });
    state.apply({
      type: "history", room: "lobby", complete: true, timestamp: T,
      messages: [{ type: "message", id: 1, room: "lobby", userId: "User-c", name: "cid", content: "earlier", timestamp: T }],
    });
    expect([...state.names].sort()).toEqual(["ann", "ben", "cid"]);
  });
});

describe("showing each message once", () => {
  const message = (id: number, room = "lobby"): ServerFrame =>
    ({ type: "message", id, room, userId: "User-a", name: "ann", content: `m${id}`, timestamp: T });
  const history = (ids: number[], room = "lobby"): ServerFrame =>
    ({ type: "history", room, messages: ids.map((id) => message(id, room) as never), complete: false, timestamp: T });
  const idsOf = (frames: { id: number }[]) => frames.map((f) => f.id);

  test("a replay shows only what is newer than the last message shown", () => {
    const state = new ClientState();
    expect(idsOf(state.toShow(message(1)))).toEqual([1]);
    expect(idsOf(state.toShow(message(2)))).toEqual([2]);
    expect(state.lastSeen("lobby")).toBe(2);
    expect(idsOf(state.toShow(history([1, 2, 3, 4])))).toEqual([3, 4]);
    expect(state.toShow(message(4))).toEqual([]);
  });

  test("during a re-join, live messages and the replay are held and then shown merged in id order", () => {
    const state = new ClientState();
    state.toShow(message(10));
    state.startReplay("lobby");
    // The resumed connection hears 13 and 14 live before the replay of 11..14 arrives.
    expect(state.toShow(message(13))).toEqual([]);
    expect(state.toShow(message(14))).toEqual([]);
    expect(state.toShow(history([11, 12, 13, 14]))).toEqual([]);
    expect(idsOf(state.endReplay("lobby"))).toEqual([11, 12, 13, 14]);
    expect(idsOf(state.toShow(message(15)))).toEqual([15]);
  });

  test("/history pages show older messages once, when the request is answered", () => {
    const state = new ClientState();
    state.toShow(history([5, 6, 7]));
    expect(state.oldestSeen("lobby")).toBe(5);
    expect(state.pagingBack()).toBe(false);
    state.requestOlder("lobby", "h1", state.oldestSeen("lobby"));
    expect(state.pagingBack()).toBe(true);
    expect(state.toShow(history([2, 3, 4, 5]))).toEqual([]);
    expect(state.endOlder("other-ref")).toBeUndefined();
    expect(idsOf(state.endOlder("h1")!.messages)).toEqual([2, 3, 4]);
    expect(state.pagingBack()).toBe(false);
    expect(state.oldestSeen("lobby")).toBe(2);
    // Later history frames are not older pages any more.
    expect(idsOf(state.toShow(history([7, 8])))).toEqual([8]);
  });

  test("after a re-join that left out part of what was missed, /history pages through that part, then on below what was shown before", () => {
    const state = new ClientState();
    const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
    state.toShow(history(ids(901, 971))); // shown before the drop
    state.startReplay("lobby");
    state.toShow(history(ids(1501, 2500))); // the newest 1,000 of what was missed
    expect(idsOf(state.endReplay("lobby"))).toEqual(ids(1501, 2500));
    expect(state.oldestSeen("lobby")).toBe(1501);
    state.requestOlder("lobby", "h1", 1501);
    state.toShow(history(ids(1001, 1500)));
    expect(idsOf(state.endOlder("h1")!.messages)).toEqual(ids(1001, 1500));
    // Down through the rest of the hole and into what was shown before: that is not shown again.
    state.requestOlder("lobby", "h2", 1001);
    state.toShow(history(ids(951, 1000)));
    expect(idsOf(state.endOlder("h2")!.messages)).toEqual(ids(972, 1000));
    // Then on below the oldest shown before the drop.
    expect(state.oldestSeen("lobby")).toBe(901);
    state.requestOlder("lobby", "h3", 901);
    state.toShow(history(ids(851, 900)));
    expect(idsOf(state.endOlder("h3")!.messages)).toEqual(ids(851, 900));
  });

  test("a page the server sends in several frames is shown whole, in id order", () => {
    const state = new ClientState();
    state.toShow(history([1100, 1101]));
    state.requestOlder("lobby", "h1", 1100);
    // /history 400: ids 700..1099 as two frames of 200, oldest first.
    const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
    expect(state.toShow(history(ids(700, 899)))).toEqual([]);
    expect(state.toShow(history(ids(900, 1099)))).toEqual([]);
    expect(idsOf(state.endOlder("h1")!.messages)).toEqual(ids(700, 1099));
    expect(state.oldestSeen("lobby")).toBe(700);
  });

  test("a page says whether nothing older exists: so does any of its frames (the one with the oldest messages)", () => {
    const state = new ClientState();
    state.toShow(history([3, 4]));
    state.requestOlder("lobby", "h1", 3);
    state.toShow({ ...(history([1, 2]) as object), complete: true } as ServerFrame);
    expect(state.endOlder("h1")).toEqual({ room: "lobby", messages: expect.any(Array), complete: true });
    state.requestOlder("lobby", "h2", 1);
    state.toShow({ ...(history([]) as object), complete: true } as ServerFrame);
    expect(state.endOlder("h2")).toEqual({ room: "lobby", messages: [], complete: true });
    state.requestOlder("lobby", "h3", 1);
    state.toShow(history([]));
    expect(state.endOlder("h3")!.complete).toBe(false);
  });

  test("a /history outstanding across a reconnect: the re-join's replay is not taken for it, and the page sent again is shown once", () => {
    const state = new ClientState();
    state.toShow(history([100, 101]));
    state.requestOlder("lobby", "h1", 100);
    // Part of the answer comes; the connection drops before the rest and the ack.
    expect(state.toShow(history([99]))).toEqual([]);
    // On the new connection the re-join goes first, then h1 again.
    state.startReplay("lobby");
    expect(state.toShow(history([102, 103]))).toEqual([]);
    expect(idsOf(state.endReplay("lobby"))).toEqual([102, 103]);
    expect(state.toShow(history([98, 99]))).toEqual([]);
    expect(idsOf(state.endOlder("h1")!.messages)).toEqual([98, 99]);
    expect(state.lastSeen("lobby")).toBe(103);
  });

  test("once the page drops a room's oldest lines, paging back starts at the oldest still shown", () => {
    const state = new ClientState();
    state.toShow(history([5, 6, 7, 8]));
    state.dropOlderThan("lobby", 7);
    expect(state.oldestSeen("lobby")).toBe(7);
    state.requestOlder("lobby", "h1", state.oldestSeen("lobby"));
    state.toShow(history([3, 4, 5, 6]));
    expect(idsOf(state.endOlder("h1")!.messages)).toEqual([3, 4, 5, 6]);
    // With none of its lines left, paging back starts from the newest seen.
    state.dropOlderThan("lobby", undefined);
    expect(state.oldestSeen("lobby")).toBe(9);
    // A room never seen has nowhere to page back from.
    state.dropOlderThan("elsewhere", undefined);
    expect(state.oldestSeen("elsewhere")).toBeUndefined();
  });
});
