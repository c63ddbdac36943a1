// Who is connected, under which name, in which rooms, and the per-room message ids.
// The shape follows socket.io's in-memory adapter: maps (room → members, user →
// connections) behind methods, so a distributed implementation can take its place
// without touching the handlers.
import { RESERVED_NAME_PREFIX, type PresenceUser } from "../protocol.ts";
import type { Awaitable } from "./awaitable.ts";

export type NameClaim = "ok" | "taken";

/** A user renamed to its own id because another user's id is that name (see `claimOwnName`). */
export interface Evicted<M> {
  user: UserRecord<M>;
  oldName: string;
}

/** Generated ids (`User-XXXXX`): no name can be one (protocol.ts reserves the prefix), so they need no name entry. */
export function isGeneratedId(userId: string): boolean {
  return RESERVED_NAME_PREFIX.test(userId);
}

export interface UserRecord<M> {
  readonly userId: string;
  name: string;
  /** Secret that lets another connection act as this user. */
  readonly session: string;
  /**
   * This node's connections of the user. Replaced, never changed in place, when one
   * comes or goes: a send to a user's tabs can close a slow one (and Bun runs the close
   * handler inside), and a loop over the old array must still reach the others.
   */
  readonly connections: readonly M[];
}

/** A user record from createUser: connections are kept by the record itself. */
function ours<M>(user: UserRecord<M>): LocalUser<M> {
  if (user instanceof LocalUser) return user as LocalUser<M>;
  throw new Error(`user ${JSON.stringify(user.userId)} was not made by this registry, so it holds no connections here`);
}

const NO_CONNECTIONS: readonly never[] = Object.freeze([]);

/**
 * The registry's user. Its one connection is kept as itself, the usual case: an array
 * of one costs every idle connection 48 bytes of heap (bun:jsc heapStats).
 */
class LocalUser<M> implements UserRecord<M> {
  name: string;
  /** Undefined with none, the connection itself with one, an array with several. */
  private held: M | readonly M[] | undefined = undefined;
  /**
   * The session's secret as three 48-bit numbers (see `Secret`), or any other session
   * as that string in s0 and zeros.
   */
  private readonly s0: number | string;
  private readonly s1: number;
  private readonly s2: number;

  /** Without a session, a new one is made (see `newSession`). */
  constructor(
    readonly userId: string,
    session: string | undefined,
  ) {
    this.name = userId;
    const secret = session === undefined ? Secret.random() : Secret.parse(userId, session);
    if (secret === undefined) {
      this.s0 = session!;
      this.s1 = this.s2 = 0;
    } else {
      this.s0 = secret.readUIntBE(0, 6);
      this.s1 = secret.readUIntBE(6, 6);
      this.s2 = secret.readUIntBE(12, 6);
    }
  }

  /** Made when asked for: the welcome, and saving the session. */
  get session(): string {
    if (typeof this.s0 === "string") return this.s0;
    return `${this.userId}.${Secret.text(this.s0)}${Secret.text(this.s1)}${Secret.text(this.s2)}`;
  }

  get connections(): readonly M[] {
    const held = this.held;
    if (held === undefined) return NO_CONNECTIONS;
    return Array.isArray(held) ? (held as readonly M[]) : [held as M];
  }

  attach(member: M): void {
    const all = this.connections;
    if (all.includes(member)) return;
    this.held = all.length === 0 ? member : [...all, member];
  }

  detach(member: M): void {
    const rest = this.connections.filter((m) => m !== member);
    this.held = rest.length === 0 ? undefined : rest.length === 1 ? rest[0] : rest;
  }
}

/**
 * Users, names and presence for every node; the connections themselves are always
 * this node's. The local registry answers at once; the cluster one (cluster/
 * cluster-rooms.ts) asks Redis, so answers are awaited.
 */
export interface RoomRegistry<M> {
  /**
   * A user for a new connection: a fresh `User-XXXXX` (unique among live users), or
   * `userId` when given and free, or when it is the same user (same session) live on
   * another node (a session restored after a restart or on another node). Without a
   * session (a new user) one is made: see `newSession`.
   */
  createUser(session: string | undefined, userId?: string): Awaitable<UserRecord<M>>;
  /** A live user by id; on a cluster, one connected to another node has no local connections. */
  user(userId: string): Awaitable<UserRecord<M> | undefined>;
  /** This node's user with this session secret. */
  userBySession(session: string): UserRecord<M> | undefined;
  /** Finds a live user by display name (case-insensitive) or by userId. */
  findUser(nameOrId: string): Awaitable<UserRecord<M> | undefined>;
  /** True when the user has a connection (on some node), not only holds in a grace period. */
  reachable(user: UserRecord<M>): Awaitable<boolean>;
  /** Adds a connection to a user. */
  attach(user: UserRecord<M>, member: M): void;
  /** Removes a connection from its user; the user stays (its name reserved) until `forget`. */
  detach(user: UserRecord<M>, member: M): void;
  /**
   * Releases a user with no connections left on this node. True when it is gone
   * everywhere (its id, name and session are free); false while another node has it.
   */
  forget(user: UserRecord<M>): Awaitable<boolean>;
  /** Renames a user (names are unique ignoring case); renaming to one's own name is "ok". */
  rename(user: UserRecord<M>, name: string): Awaitable<NameClaim>;
  /**
   * A user whose id was not generated (a token's subject) is called by its id until it
   * renames, so that name is its own for as long as it is here, renamed or not. A user
   * who took the name meanwhile is renamed to its own id and answered, to be announced.
   */
  claimOwnName(user: UserRecord<M>): Awaitable<Evicted<M> | undefined>;
  /** Adds a connection to a room; true when the user was not in the room before (anywhere). */
  join(room: string, userId: string, member: M): Awaitable<boolean>;
  /**
   * Removes a connection from a room; true when it was the user's last connection there.
   * With `hold`, the user stays present in the room with no connection (a grace period
   * for reconnecting) and the answer is false; `release` ends the hold.
   */
  leave(room: string, userId: string, member: M, hold?: boolean): Awaitable<boolean>;
  /** Ends a hold: true when the user was present only through it (so it has left now). */
  release(room: string, userId: string): Awaitable<boolean>;
  /** This node's connections in a room (empty when it has none). */
  members(room: string): Iterable<M>;
  /** Users in a room, one entry per user however many connections, sorted by name. */
  presence(room: string): Awaitable<PresenceUser[]>;
  /** Rooms and users with connections (or holds) on this node. */
  roomCount(): number;
  userCount(): number;
  /** Users present in a room (held ones included). */
  roomSize(room: string): Awaitable<number>;
}

/** The registry of one process: every answer is immediate. */
export interface LocalRoomRegistry<M> extends RoomRegistry<M> {
  createUser(session: string | undefined, userId?: string): UserRecord<M>;
  user(userId: string): UserRecord<M> | undefined;
  findUser(nameOrId: string): UserRecord<M> | undefined;
  reachable(user: UserRecord<M>): boolean;
  forget(user: UserRecord<M>): boolean;
  rename(user: UserRecord<M>, name: string): NameClaim;
  claimOwnName(user: UserRecord<M>): Evicted<M> | undefined;
  join(room: string, userId: string, member: M): boolean;
  leave(room: string, userId: string, member: M, hold?: boolean): boolean;
  release(room: string, userId: string): boolean;
  presence(room: string): PresenceUser[];
  roomSize(room: string): number;
  /** Every user here and every (room, userId) presence, holds included: what a cluster node re-registers. */
  snapshot(): { users: UserRecord<M>[]; presence: Array<[room: string, userId: string]> };
}

const ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";
/** Marks a user present in a room through a hold only (see `leave`). */
const HELD: unique symbol = Symbol("held");

/**
 * A new user's session: its userId, a dot and 18 random bytes in base64url (which has
 * no dot). The userId in it finds the user, so the registry needs no table of sessions:
 * one cost 131 bytes of heap per connection (bun:jsc heapStats, 5,000 connections). The
 * user keeps the 18 bytes as three numbers: as a string they cost 51 bytes more.
 */
export function newSession(userId: string): string {
  return `${userId}.${Secret.random().toString("base64url")}`;
}

/** The 18 random bytes of a session, in one scratch buffer (read them before the next call). */
const SECRET_BYTES = 18;
const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const Secret = {
  scratch: Buffer.alloc(SECRET_BYTES),

  random(): Buffer {
    crypto.getRandomValues(Secret.scratch);
    return Secret.scratch;
  },

  /**
   * Six bytes, as the number readUIntBE(at, 6) gives, in base64url: eight characters,
   * the same as Buffer's base64url of those bytes (48 bits are whole characters).
   * Written out: through a Buffer it cost a tenth of accepting a connection.
   */
  text(n: number): string {
    let text = "";
    for (let shift = 2 ** 42; shift >= 1; shift /= 64) text += BASE64URL[Math.floor(n / shift) % 64];
    return text;
  },

  /** The secret of `session` when it is `userId`, a dot and 18 bytes in canonical base64url. */
  parse(userId: string, session: string): Buffer | undefined {
    const text = session.slice(userId.length + 1);
    if (!session.startsWith(`${userId}.`) || text.length !== 24) return undefined;
    const written = Secret.scratch.write(text, "base64url");
    return written === SECRET_BYTES && Secret.scratch.toString("base64url") === text ? Secret.scratch : undefined;
  },
};

/** The userId a session made by newSession starts with (any other string: a wrong guess, checked by the caller). */
function sessionUserId(session: string): string {
  return session.slice(0, Math.max(0, session.lastIndexOf(".")));
}

export function createLocalRooms<M>(random: () => number = Math.random): LocalRoomRegistry<M> {
  // room → userId → that user's connection in the room: one connection is stored as
  // itself (the usual case, and a Set per member per room costs memory at scale),
  // several as a Set, and a user held for its grace period as HELD.
  const rooms = new Map<string, Map<string, M | Set<M> | typeof HELD>>();
  const users = new Map<string, LocalUser<M>>();
  // lower-cased name → userId; ids are names too, so no name can shadow an id
  const names = new Map<string, string>();
  // Sessions that do not start with their user's id: made before sessions carried it,
  // or restored under another id because the old one was taken. Empty as a rule.
  const otherSessions = new Map<string, string>();

  const newUserId = () => {
    for (;;) {
      let id = "User-";
      for (let i = 0; i < 5; i++) id += ID_ALPHABET[Math.floor(random() * ID_ALPHABET.length)];
      if (!users.has(id)) return id;
    }
  };

  return {
    createUser(session, wanted) {
      const userId = wanted !== undefined && !users.has(wanted) ? wanted : newUserId();
      const user = new LocalUser<M>(userId, session);
      users.set(userId, user);
      // A session made here starts with its user's id.
      if (session !== undefined && sessionUserId(session) !== userId) otherSessions.set(session, userId);
      return user;
    },

    user: (userId) => users.get(userId),

    userBySession(session) {
      const user = users.get(sessionUserId(session));
      if (user?.session === session) return user;
      const other = otherSessions.get(session);
      return other === undefined ? undefined : users.get(other);
    },

    findUser(nameOrId) {
      return users.get(nameOrId) ?? users.get(names.get(nameOrId.toLowerCase()) ?? "");
    },

    reachable: (user) => user.connections.length > 0,

    attach: (user, member) => ours(user).attach(member),
    detach: (user, member) => ours(user).detach(member),

    forget(user) {
      // Only the live record may release the id: a stale one must not evict its successor.
      if (user.connections.length > 0 || users.get(user.userId) !== user) return false;
      users.delete(user.userId);
      otherSessions.delete(user.session);
      for (const key of [user.name.toLowerCase(), user.userId.toLowerCase()]) if (names.get(key) === user.userId) names.delete(key);
      return true;
    },

    rename(user, name) {
      const key = name.toLowerCase();
      const holder = names.get(key);
      if (holder !== undefined && holder !== user.userId) return "taken";
      const oldKey = user.name.toLowerCase();
      // Its own id stays its name entry (claimOwnName), whatever it is called now.
      if (oldKey !== user.userId.toLowerCase() && names.get(oldKey) === user.userId) names.delete(oldKey);
      names.set(key, user.userId);
      user.name = name;
      return "ok";
    },

    claimOwnName(user) {
      if (isGeneratedId(user.userId)) return undefined;
      const key = user.userId.toLowerCase();
      const holder = names.get(key);
      const other = holder === undefined || holder === user.userId ? undefined : users.get(holder);
      // Two ids differing only in case: the first one here keeps the name.
      if (other !== undefined && other.userId.toLowerCase() === key) return undefined;
      names.set(key, user.userId);
      if (other === undefined) return undefined;
      const oldName = other.name;
      other.name = other.userId;
      if (!isGeneratedId(other.userId)) names.set(other.userId.toLowerCase(), other.userId);
      return { user: other, oldName };
    },

    join(room, userId, member) {
      let members = rooms.get(room);
      if (members === undefined) {
        members = new Map();
        rooms.set(room, members);
      }
      const present = members.get(userId);
      if (present === undefined || present === HELD) {
        members.set(userId, member);
        // A held user coming back is not new to the room: no announcement.
        return present === undefined;
      }
      if (present instanceof Set) present.add(member);
      else if (present !== member) members.set(userId, new Set([present, member]));
      return false;
    },

    leave(room, userId, member, hold = false) {
      const members = rooms.get(room);
      const present = members?.get(userId);
      if (members === undefined || present === undefined || present === HELD) return false;
      if (present instanceof Set) {
        present.delete(member);
        if (present.size === 1) members.set(userId, present.values().next().value as M);
        return false;
      }
      if (present !== member) return false;
      if (hold) {
        members.set(userId, HELD);
        return false;
      }
      members.delete(userId);
      // An empty room costs nothing.
      if (members.size === 0) rooms.delete(room);
      return true;
    },

    release(room, userId) {
      const members = rooms.get(room);
      if (members?.get(userId) !== HELD) return false;
      members.delete(userId);
      if (members.size === 0) rooms.delete(room);
      return true;
    },

    *members(room) {
      const members = rooms.get(room);
      if (members === undefined) return;
      for (const present of members.values()) {
        if (present === HELD) continue;
        if (present instanceof Set) yield* present;
        else yield present;
      }
    },

    presence(room) {
      const members = rooms.get(room);
      if (members === undefined) return [];
      const list: PresenceUser[] = [];
      for (const userId of members.keys()) {
        const user = users.get(userId);
        if (user !== undefined) list.push({ userId, name: user.name });
      }
      return list.sort((a, b) => compareNames(a.name, b.name) || compareNames(a.userId, b.userId));
    },

    snapshot() {
      const presence: Array<[string, string]> = [];
      for (const [room, members] of rooms) for (const userId of members.keys()) presence.push([room, userId]);
      return { users: [...users.values()], presence };
    },

    roomCount: () => rooms.size,
    roomSize: (room) => rooms.get(room)?.size ?? 0,
    userCount: () => users.size,
  };
}

/** Case-insensitive first, so "bob" sorts next to "Bob"; code order breaks ties stably. */
export function compareNames(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x !== y) return x < y ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
