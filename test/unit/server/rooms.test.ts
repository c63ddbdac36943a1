import { describe, expect, test } from "bun:test";
import { createLocalRooms, newSession } from "../../../src/server/rooms.ts";
import { mulberry32 } from "../seeded-random.ts";

const ID = /^User-[0-9a-z]{5}$/;

/** A random source that plays back the given digits (0-35) as ID_ALPHABET positions, then repeats. */
function digits(...values: number[]) {
  let calls = 0;
  const random = () => (values[calls++ % values.length] as number) / 36 + 1e-9;
  return { random, calls: () => calls };
}

/** A stand-in for a socket: the registry only stores and returns members. */
type Conn = { name: string };
const conn = (name: string): Conn => ({ name });

describe("createUser", () => {
  test("ids are User- and five base-36 characters", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(1));
    for (let i = 0; i < 1000; i++) expect(rooms.createUser(`s${i}`).userId).toMatch(ID);
  });

  test("ids are drawn from the injected random source", () => {
    expect(createLocalRooms<Conn>(digits(0).random).createUser("s").userId).toBe("User-00000");
    expect(createLocalRooms<Conn>(digits(35).random).createUser("s").userId).toBe("User-zzzzz");
    expect(createLocalRooms<Conn>(digits(1, 2, 10, 11, 35).random).createUser("s").userId).toBe("User-12abz");
  });

  test("a new user is named after its id and has no connections yet", () => {
    const rooms = createLocalRooms<Conn>(digits(7).random);
    const user = rooms.createUser("secret");
    expect(user).toMatchObject({ userId: "User-77777", name: "User-77777", session: "secret" });
    expect(user.connections.length).toBe(0);
    expect(rooms.userCount()).toBe(1);
  });

  test("an id already in use is drawn again", () => {
    // First user: 00000. Second: 00000 again (taken), then 11111.
    const source = digits(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1);
    const rooms = createLocalRooms<Conn>(source.random);
    expect(rooms.createUser("a").userId).toBe("User-00000");
    expect(rooms.createUser("b").userId).toBe("User-11111");
    expect(source.calls()).toBe(15);
  });

  test("ids stay unique among many live users", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(42));
    const ids = new Set<string>();
    for (let i = 0; i < 5000; i++) ids.add(rooms.createUser(`s${i}`).userId);
    expect(ids.size).toBe(5000);
    expect(rooms.userCount()).toBe(5000);
  });

  test("an id is free again once its user's last connection is gone", () => {
    const rooms = createLocalRooms<Conn>(digits(3).random);
    const first = rooms.createUser("a");
    const socket = conn("a");
    rooms.attach(first, socket);
    rooms.detach(first, socket);
    rooms.forget(first);
    expect(rooms.createUser("b").userId).toBe(first.userId);
  });
});

describe("looking users up", () => {
  test("by id, by session and by name", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(2));
    const alice = rooms.createUser("s-alice");
    rooms.rename(alice, "Alice");
    expect(rooms.user(alice.userId)).toBe(alice);
    expect(rooms.userBySession("s-alice")).toBe(alice);
    expect(rooms.findUser(alice.userId)).toBe(alice);
    expect(rooms.findUser("Alice")).toBe(alice);
  });

  test("names are found whatever their case", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(3));
    const bob = rooms.createUser("s");
    rooms.rename(bob, "Bob");
    expect(rooms.findUser("bob")).toBe(bob);
    expect(rooms.findUser("BOB")).toBe(bob);
  });

  test("a new user's session carries its id and finds it; the same id with another secret finds nobody", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(7));
    const user = rooms.createUser(undefined);
    expect(user.session).toMatch(/^User-[0-9a-z]{5}\.[A-Za-z0-9_-]{24}$/);
    expect(rooms.userBySession(user.session)).toBe(user);
    expect(rooms.userBySession(`${user.userId}.${"A".repeat(24)}`)).toBeUndefined();
    expect(rooms.userBySession(user.userId)).toBeUndefined();
    expect(rooms.createUser(undefined).session).not.toBe(user.session);
    // A token's subject may hold dots: the secret is what follows the last one.
    const dotted = rooms.createUser(undefined, "alice.smith");
    expect(rooms.userBySession(dotted.session)).toBe(dotted);
  });

  test("a session given to createUser is the user's session, character for character", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(9));
    // Made by newSession (a session saved before a restart, or claimed on a cluster).
    const made = newSession("User-bbbbb");
    expect(rooms.createUser(made, "User-bbbbb").session).toBe(made);
    // Secrets at the ends of the alphabet (bytes 00 and ff), and its first 24 characters in order.
    for (const secret of [Buffer.alloc(18, 0), Buffer.alloc(18, 255), Buffer.from("00108310518720928b30d38f41149351559761969b71d79e7", "hex").subarray(0, 18)]) {
      const session = `User-fffff.${secret.toString("base64url")}`;
      const user = rooms.createUser(session, "User-fffff");
      expect(user.session).toBe(session);
      rooms.forget(user);
    }
    // The user's id and a secret of another shape, or not canonical base64url, kept as given.
    for (const [id, session] of [["User-ccccc", "User-ccccc.short"], ["User-ddddd", "User-ddddd.AAAAAAAAAAAAAAAAAAAAAAA="], ["User-eeeee", "User-eeeee.A+AAAAAAAAAAAAAAAAAAAAAA"]] as const) {
      const user = rooms.createUser(session, id);
      expect(user.session).toBe(session);
      expect(rooms.userBySession(session)).toBe(user);
    }
  });

  test("each new user's session is its own, and stays the same", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(10));
    const users = Array.from({ length: 200 }, () => rooms.createUser(undefined));
    const sessions = users.map((user) => user.session);
    expect(new Set(sessions).size).toBe(200);
    expect(users.map((user) => user.session)).toEqual(sessions);
    for (const user of users) expect(rooms.userBySession(user.session)).toBe(user);
  });

  test("a session restored under another id (its own was taken) still finds its user, until forgotten", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(8));
    const holder = rooms.createUser(undefined, "User-aaaaa");
    const restored = rooms.createUser("User-aaaaa.oldsecretoldsecretoldsecre", "User-aaaaa");
    expect(restored.userId).not.toBe("User-aaaaa");
    expect(rooms.userBySession("User-aaaaa.oldsecretoldsecretoldsecre")).toBe(restored);
    expect(rooms.userBySession(holder.session)).toBe(holder);
    rooms.forget(restored);
    expect(rooms.userBySession("User-aaaaa.oldsecretoldsecretoldsecre")).toBeUndefined();
  });

  test("unknown ids, sessions and names find nobody", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(4));
    rooms.createUser("s");
    expect(rooms.user("User-nope0")).toBeUndefined();
    expect(rooms.userBySession("other")).toBeUndefined();
    expect(rooms.findUser("nobody")).toBeUndefined();
    expect(rooms.findUser("")).toBeUndefined();
  });
});

describe("attach and detach", () => {
  test("a connection detached while a loop goes over its user's connections does not hide the others from it", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(6));
    const user = rooms.createUser("s");
    const tabs = [conn("tab1"), conn("tab2"), conn("tab3")];
    for (const tab of tabs) rooms.attach(user, tab);
    const reached: Conn[] = [];
    // As a send to a slow first tab closes it, and its close handler detaches it.
    for (const tab of user.connections) {
      reached.push(tab);
      if (tab === tabs[0]) rooms.detach(user, tab);
    }
    expect(reached).toEqual(tabs);
    expect(user.connections).toEqual(tabs.slice(1));
  });


  test("connections come and go in order, once each, whether one or several", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(11));
    const user = rooms.createUser(undefined);
    const [a, b, c] = [conn("a"), conn("b"), conn("c")];
    expect(user.connections).toEqual([]);
    rooms.attach(user, a);
    rooms.attach(user, a);
    expect(user.connections).toEqual([a]);
    rooms.attach(user, b);
    rooms.attach(user, c);
    expect(user.connections).toEqual([a, b, c]);
    rooms.detach(user, b);
    expect(user.connections).toEqual([a, c]);
    rooms.detach(user, a);
    expect(user.connections).toEqual([c]);
    rooms.detach(user, conn("never attached"));
    expect(user.connections).toEqual([c]);
    rooms.detach(user, c);
    expect(user.connections).toEqual([]);
  });

  test("a user record the registry did not make cannot take connections", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(12));
    const stranger = { userId: "User-zzzzz", name: "User-zzzzz", session: "s", connections: [] };
    expect(() => rooms.attach(stranger, conn("a"))).toThrow("was not made by this registry");
  });

  test("a user lives while any of its connections does", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(5));
    const user = rooms.createUser("s");
    const tab1 = conn("tab1");
    const tab2 = conn("tab2");
    rooms.attach(user, tab1);
    rooms.attach(user, tab2);
    expect(user.connections.length).toBe(2);
    rooms.detach(user, tab1);
    expect(rooms.user(user.userId)).toBe(user);
    expect(rooms.userBySession("s")).toBe(user);
    rooms.detach(user, tab2);
    // Without connections the user is kept (a grace period) until it is forgotten.
    expect(rooms.user(user.userId)).toBe(user);
    rooms.forget(user);
    expect(rooms.user(user.userId)).toBeUndefined();
    expect(rooms.userCount()).toBe(0);
  });

  test("forgetting a user frees its session and its name", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(6));
    const alice = rooms.createUser("s-alice");
    const socket = conn("a");
    rooms.attach(alice, socket);
    rooms.rename(alice, "alice");
    rooms.detach(alice, socket);
    expect(rooms.findUser("alice")).toBe(alice);
    rooms.forget(alice);
    expect(rooms.userBySession("s-alice")).toBeUndefined();
    expect(rooms.findUser("alice")).toBeUndefined();
    expect(rooms.rename(rooms.createUser("s-other"), "ALICE")).toBe("ok");
  });
});

describe("rename", () => {
  test("a free name is granted", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(7));
    const user = rooms.createUser("s");
    expect(rooms.rename(user, "alice")).toBe("ok");
    expect(user.name).toBe("alice");
  });

  test("a name held by another user is taken, whatever the case", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(8));
    const alice = rooms.createUser("a");
    const other = rooms.createUser("b");
    rooms.rename(alice, "Alice");
    for (const name of ["Alice", "alice", "ALICE"]) expect(rooms.rename(other, name)).toBe("taken");
    expect(other.name).toBe(other.userId);
  });

  test("one's own name is ok, and may change case", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(9));
    const alice = rooms.createUser("a");
    rooms.rename(alice, "alice");
    expect(rooms.rename(alice, "alice")).toBe("ok");
    expect(rooms.rename(alice, "ALICE")).toBe("ok");
    expect(alice.name).toBe("ALICE");
    expect(rooms.findUser("alice")).toBe(alice);
  });

  test("renaming frees the old name for others", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(10));
    const alice = rooms.createUser("a");
    const other = rooms.createUser("b");
    rooms.rename(alice, "alice");
    rooms.rename(alice, "alicia");
    expect(rooms.findUser("alice")).toBeUndefined();
    expect(rooms.rename(other, "alice")).toBe("ok");
    expect(rooms.findUser("alice")).toBe(other);
    expect(rooms.findUser("alicia")).toBe(alice);
  });

  test("a user leaving frees only its own name, not one it held before", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(11));
    const alice = rooms.createUser("a");
    const bob = rooms.createUser("b");
    const socket = conn("a");
    rooms.attach(alice, socket);
    rooms.attach(bob, conn("b"));
    rooms.rename(alice, "bob");
    rooms.rename(alice, "carol");
    rooms.rename(bob, "bob");
    rooms.detach(alice, socket);
    rooms.forget(alice);
    expect(rooms.findUser("bob")).toBe(bob);
    expect(rooms.findUser("carol")).toBeUndefined();
  });
});

describe("join and leave", () => {
  test("the first connection of a user to join is reported, the second is not", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(12));
    const tab1 = conn("tab1");
    const tab2 = conn("tab2");
    expect(rooms.join("lobby", "User-aaaaa", tab1)).toBe(true);
    expect(rooms.join("lobby", "User-aaaaa", tab2)).toBe(false);
  });

  test("the last connection of a user to leave is reported, the first is not", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(13));
    const tab1 = conn("tab1");
    const tab2 = conn("tab2");
    rooms.join("lobby", "User-aaaaa", tab1);
    rooms.join("lobby", "User-aaaaa", tab2);
    expect(rooms.leave("lobby", "User-aaaaa", tab1)).toBe(false);
    expect(rooms.leave("lobby", "User-aaaaa", tab2)).toBe(true);
  });

  test("joining twice with one connection counts once", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(14));
    const tab = conn("tab");
    expect(rooms.join("lobby", "User-aaaaa", tab)).toBe(true);
    expect(rooms.join("lobby", "User-aaaaa", tab)).toBe(false);
    expect([...rooms.members("lobby")]).toEqual([tab]);
    expect(rooms.leave("lobby", "User-aaaaa", tab)).toBe(true);
  });

  test("leaving a room one is not in reports nothing and changes nothing", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(15));
    const tab = conn("tab");
    const stranger = conn("stranger");
    rooms.join("lobby", "User-aaaaa", tab);
    expect(rooms.leave("nowhere", "User-aaaaa", tab)).toBe(false);
    expect(rooms.leave("lobby", "User-bbbbb", tab)).toBe(false);
    expect(rooms.leave("lobby", "User-aaaaa", stranger)).toBe(false);
    expect([...rooms.members("lobby")]).toEqual([tab]);
    expect(rooms.leave("lobby", "User-aaaaa", tab)).toBe(true);
    expect(rooms.leave("lobby", "User-aaaaa", tab)).toBe(false);
  });

  test("one user's joins do not count for another", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(16));
    expect(rooms.join("lobby", "User-aaaaa", conn("a"))).toBe(true);
    expect(rooms.join("lobby", "User-bbbbb", conn("b"))).toBe(true);
  });

  test("members lists every connection in a room, of every user", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(17));
    const a1 = conn("a1");
    const a2 = conn("a2");
    const b = conn("b");
    const elsewhere = conn("c");
    rooms.join("lobby", "User-aaaaa", a1);
    rooms.join("lobby", "User-aaaaa", a2);
    rooms.join("lobby", "User-bbbbb", b);
    rooms.join("dev", "User-ccccc", elsewhere);
    expect(new Set(rooms.members("lobby"))).toEqual(new Set([a1, a2, b]));
    expect([...rooms.members("dev")]).toEqual([elsewhere]);
    expect([...rooms.members("empty")]).toEqual([]);
  });

  test("a room is dropped once its last member leaves", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(18));
    const a = conn("a");
    const b = conn("b");
    expect(rooms.roomCount()).toBe(0);
    rooms.join("lobby", "User-aaaaa", a);
    rooms.join("dev", "User-aaaaa", a);
    rooms.join("dev", "User-bbbbb", b);
    expect(rooms.roomCount()).toBe(2);
    rooms.leave("dev", "User-aaaaa", a);
    expect(rooms.roomCount()).toBe(2);
    rooms.leave("dev", "User-bbbbb", b);
    expect(rooms.roomCount()).toBe(1);
    expect([...rooms.members("dev")]).toEqual([]);
    rooms.leave("lobby", "User-aaaaa", a);
    expect(rooms.roomCount()).toBe(0);
  });
});

describe("presence", () => {
  test("lists each user once, by name whatever the case", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(19));
    const names = ["carol", "Bob", "alice", "bob2"];
    for (const name of names) {
      const user = rooms.createUser(name);
      rooms.rename(user, name);
      rooms.join("lobby", user.userId, conn(`${name}-1`));
      rooms.join("lobby", user.userId, conn(`${name}-2`));
    }
    expect(rooms.presence("lobby").map((u) => u.name)).toEqual(["alice", "Bob", "bob2", "carol"]);
  });

  test("shows a user's current name and its id", () => {
    const rooms = createLocalRooms<Conn>(digits(4).random);
    const user = rooms.createUser("s");
    rooms.join("lobby", user.userId, conn("a"));
    expect(rooms.presence("lobby")).toEqual([{ userId: "User-44444", name: "User-44444" }]);
    rooms.rename(user, "dora");
    expect(rooms.presence("lobby")).toEqual([{ userId: "User-44444", name: "dora" }]);
  });

  test("an empty or unknown room has nobody present", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(20));
    const user = rooms.createUser("s");
    const socket = conn("a");
    rooms.join("lobby", user.userId, socket);
    rooms.leave("lobby", user.userId, socket);
    expect(rooms.presence("lobby")).toEqual([]);
    expect(rooms.presence("never")).toEqual([]);
  });
});

describe("holding a user in its rooms", () => {
  test("a held user stays present, and coming back is not a new join", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(21));
    const user = rooms.createUser("s");
    const before = conn("before");
    rooms.join("lobby", user.userId, before);
    expect(rooms.leave("lobby", user.userId, before, true)).toBe(false);
    expect(rooms.presence("lobby").map((p) => p.userId)).toEqual([user.userId]);
    expect([...rooms.members("lobby")]).toEqual([]);
    const after = conn("after");
    expect(rooms.join("lobby", user.userId, after)).toBe(false);
    expect([...rooms.members("lobby")]).toEqual([after]);
    expect(rooms.release("lobby", user.userId)).toBe(false);
  });

  test("releasing a hold is the leave, and the empty room is dropped", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(22));
    const socket = conn("a");
    rooms.join("lobby", "User-aaaaa", socket);
    rooms.leave("lobby", "User-aaaaa", socket, true);
    expect(rooms.roomCount()).toBe(1);
    expect(rooms.release("lobby", "User-aaaaa")).toBe(true);
    expect(rooms.roomCount()).toBe(0);
    expect(rooms.release("lobby", "User-aaaaa")).toBe(false);
  });

  test("a hold is only kept for the user's last connection", () => {
    const rooms = createLocalRooms<Conn>(mulberry32(23));
    const tab1 = conn("1");
    const tab2 = conn("2");
    rooms.join("lobby", "User-aaaaa", tab1);
    rooms.join("lobby", "User-aaaaa", tab2);
    expect(rooms.leave("lobby", "User-aaaaa", tab1, true)).toBe(false);
    expect(rooms.release("lobby", "User-aaaaa")).toBe(false);
    expect([...rooms.members("lobby")]).toEqual([tab2]);
  });
});
