// Who is connected, under which name, in which rooms, and the per-room message ids.
// The shape follows socket.io's in-memory adapter: two maps (room → members and
// user → connections) behind methods, so a distributed implementation can take its
// place without touching the handlers.

export type NameClaim = "ok" | "taken";

export interface RoomRegistry<M> {
  /** A fresh `User-XXXXX` id, unique among live users. */
  newUserId(): string;
  /** Frees an id once the user's last connection is gone. */
  releaseUserId(userId: string): void;
  /** Reserves a display name (case-insensitive) for a user; its own name is "ok". */
  claimName(name: string, userId: string): NameClaim;
  releaseName(name: string, userId: string): void;
  /** Adds a connection to a room; true when it is the user's first connection there. */
  join(room: string, userId: string, member: M): boolean;
  /** Removes a connection from a room; true when it was the user's last connection there. */
  leave(room: string, userId: string, member: M): boolean;
  /** Every connection in a room (empty when the room has no members). */
  members(room: string): Iterable<M>;
  /** The next message id of a room: strictly increasing by 1, never reused in this process. */
  nextMessageId(room: string): number;
  roomCount(): number;
}

const ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

export function createLocalRooms<M>(random: () => number = Math.random): RoomRegistry<M> {
  // room → userId → that user's connections in the room
  const rooms = new Map<string, Map<string, Set<M>>>();
  // lower-cased name → userId
  const names = new Map<string, string>();
  const liveIds = new Set<string>();
  // Kept after a room empties so ids are never reused; one number per room ever used.
  const lastIds = new Map<string, number>();

  return {
    newUserId() {
      for (;;) {
        let id = "User-";
        for (let i = 0; i < 5; i++) id += ID_ALPHABET[Math.floor(random() * ID_ALPHABET.length)];
        if (!liveIds.has(id)) {
          liveIds.add(id);
          return id;
        }
      }
    },

    releaseUserId(userId) {
      liveIds.delete(userId);
    },

    claimName(name, userId) {
      const key = name.toLowerCase();
      const holder = names.get(key);
      if (holder !== undefined && holder !== userId) return "taken";
      names.set(key, userId);
      return "ok";
    },

    releaseName(name, userId) {
      const key = name.toLowerCase();
      if (names.get(key) === userId) names.delete(key);
    },

    join(room, userId, member) {
      let users = rooms.get(room);
      if (users === undefined) {
        users = new Map();
        rooms.set(room, users);
      }
      let connections = users.get(userId);
      const first = connections === undefined;
      if (connections === undefined) {
        connections = new Set();
        users.set(userId, connections);
      }
      connections.add(member);
      return first;
    },

    leave(room, userId, member) {
      const users = rooms.get(room);
      const connections = users?.get(userId);
      if (users === undefined || connections === undefined || !connections.delete(member)) return false;
      if (connections.size > 0) return false;
      users.delete(userId);
      // An empty room costs nothing but its last id.
      if (users.size === 0) rooms.delete(room);
      return true;
    },

    *members(room) {
      const users = rooms.get(room);
      if (users === undefined) return;
      for (const connections of users.values()) yield* connections;
    },

    nextMessageId(room) {
      const id = (lastIds.get(room) ?? 0) + 1;
      lastIds.set(room, id);
      return id;
    },

    roomCount() {
      return rooms.size;
    },
  };
}
