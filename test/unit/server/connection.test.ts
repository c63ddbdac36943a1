import { describe, expect, test } from "bun:test";
import { newRare, NO_ROOMS, rareOf, takeAsked, withoutRoom, withRoom, type ConnectionData } from "../../../src/server/connection.ts";

describe("a connection's rooms", () => {
  test("joining puts the room last (current), once, and leaves the old list as it was", () => {
    const one = withRoom(NO_ROOMS, "lobby");
    const two = withRoom(one, "dev");
    expect(one).toEqual(["lobby"]);
    expect(two).toEqual(["lobby", "dev"]);
    expect(withRoom(two, "lobby")).toEqual(["dev", "lobby"]);
    expect(withRoom(two, "dev")).toBe(two);
    expect(two).toEqual(["lobby", "dev"]);
  });

  test("leaving drops only that room, and one not joined changes nothing", () => {
    const rooms = withRoom(withRoom(withRoom(NO_ROOMS, "a"), "b"), "c");
    expect(withoutRoom(rooms, "b")).toEqual(["a", "c"]);
    expect(withoutRoom(rooms, "zzz")).toBe(rooms);
    expect(withoutRoom(withRoom(NO_ROOMS, "a"), "a")).toEqual([]);
  });

  test("connections in the same one room share one frozen list", () => {
    const first = withRoom(NO_ROOMS, "shared-room");
    const second = withoutRoom(withRoom(withRoom(NO_ROOMS, "other"), "shared-room"), "other");
    expect(second).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(withRoom(first, "more"))).toBe(true);
  });
});

describe("rare connection state", () => {
  const data = (rare: ConnectionData["rare"]): ConnectionData => ({
    connId: 1, remote: "127.0.0.1", user: { userId: "u", name: "u", session: "s", connections: [] }, rooms: NO_ROOMS, alive: true, closing: undefined, slot: -1, rare,
  });

  test("what the upgrade asked for is taken once, and the rare state goes when nothing else is in it", () => {
    const asked = { name: "ann", room: "dev", session: undefined };
    const conn = data(newRare(asked, undefined));
    expect(takeAsked(conn)).toBe(asked);
    expect(conn.rare).toBeUndefined();
    expect(takeAsked(conn)).toBeUndefined();
  });

  test("the rare state stays while it holds anything else", () => {
    const auth = { sub: "u", name: undefined, expiresAt: undefined, timer: undefined };
    const conn = data(newRare({ name: "ann", room: undefined, session: undefined }, auth));
    takeAsked(conn);
    expect(conn.rare?.auth).toBe(auth);
    expect(conn.rare?.asked).toBeUndefined();
  });

  test("is made once, when first needed", () => {
    const conn = data(undefined);
    const rare = rareOf(conn);
    expect(rareOf(conn)).toBe(rare);
    expect(conn.rare).toBe(rare);
  });
});
