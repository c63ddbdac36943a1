// The registry of a cluster: this node's connections stay in the local registry
// (rooms.ts), while ids, names and presence live in Redis, so they are unique and
// visible across nodes. Redis is asked only when this node's view changes: a user's
// first connection in a room here, its last one, a rename.
import type { PresenceUser } from "../../protocol.ts";
import type { ChatSocket } from "../connection.ts";
import { compareNames, isGeneratedId, newSession, type Evicted, type LocalRoomRegistry, type RoomRegistry, type UserRecord } from "../rooms.ts";
import type { RedisLink } from "./redis-link.ts";
import { CLAIM_OWN_NAME, FIND_USER, PRESENCE, PRESENCE_JOIN, PRESENCE_LEAVE, RENAME, USER_BY_ID, USER_CLAIM, USER_CONNECTED, USER_REACHABLE, USER_RELEASE } from "./scripts.ts";

type User = UserRecord<ChatSocket>;

export function createClusterRooms(
  link: RedisLink,
  node: string,
  local: LocalRoomRegistry<ChatSocket>,
  /** Called when Redis could not be told about a change here: the node re-registers what it has (cluster.ts). */
  onStale: (error: unknown) => void,
): RoomRegistry<ChatSocket> {
  /** A user known to Redis but with no connection here (found for a direct message or a resume). */
  const remote = (userId: string, session: string, name: string): User => ({ userId, session, name, connections: [] });
  /** Users whose last connection here went (Redis was told they are only held here). */
  const heldHere = new Set<string>();
  /**
   * Leaving and joining change this node first; Redis follows. When it cannot (it is
   * away, or slow), the change stands here, nothing is announced, and the node says
   * again later what it has, so a close or a join never fails halfway.
   */
  const follow = async (script: string, args: string[]): Promise<boolean> => {
    try {
      return (await link.script(script, args)) === 1;
    } catch (error) {
      onStale(error);
      return false;
    }
  };

  return {
    async createUser(session, wanted) {
      if (wanted !== undefined) {
        const claimed = session ?? newSession(wanted);
        const name = (await link.script(USER_CLAIM, [wanted, claimed, node])) as string | null;
        if (name !== null) return adopt(local, wanted, claimed, name);
      }
      // A fresh id: the local registry avoids this node's ids, Redis every other node's.
      for (;;) {
        const user = local.createUser(session);
        let name: string | null;
        try {
          name = (await link.script(USER_CLAIM, [user.userId, user.session, node])) as string | null;
        } catch (error) {
          local.forget(user);
          throw error;
        }
        if (name !== null) return user;
        local.forget(user);
      }
    },

    async user(userId) {
      return local.user(userId) ?? (await lookup(USER_BY_ID, [userId]));
    },
    userBySession: (session) => local.userBySession(session),

    async findUser(nameOrId) {
      return local.user(nameOrId) ?? (await lookup(FIND_USER, [nameOrId, nameOrId.toLowerCase()]));
    },

    async reachable(user) {
      return user.connections.length > 0 || (await link.script(USER_REACHABLE, [user.userId])) === 1;
    },

    // Other nodes tell a user held in its grace period here from one connected here by
    // Redis alone (a direct message to it is refused, not lost): a user's last connection
    // here going, and its first coming back, is said there.
    attach(user, ws) {
      local.attach(user, ws);
      if (heldHere.delete(user.userId)) void follow(USER_CONNECTED, [user.userId, node, "1"]);
    },
    detach(user, ws) {
      local.detach(user, ws);
      if (user.connections.length > 0) return;
      heldHere.add(user.userId);
      void follow(USER_CONNECTED, [user.userId, node, "0"]);
    },

    async forget(user) {
      if (!local.forget(user)) return false;
      heldHere.delete(user.userId);
      return follow(USER_RELEASE, [user.userId, node]);
    },

    async rename(user, name) {
      if ((await link.script(RENAME, [user.userId, name, name.toLowerCase()])) !== 1) return "taken";
      // Redis decides; this node's copy of the record just follows.
      user.name = name;
      return "ok";
    },

    async claimOwnName(user) {
      if (isGeneratedId(user.userId)) return undefined;
      const evicted = (await link.script(CLAIM_OWN_NAME, [user.userId, user.userId.toLowerCase()])) as [string, string] | null;
      if (evicted === null) return undefined;
      const [userId, oldName] = evicted;
      // Redis decides; this node's copy (if the user is here) follows, and so do the
      // others' when they hear the notice (cluster-fanout.ts).
      const other: Evicted<ChatSocket>["user"] = local.user(userId) ?? remote(userId, "", userId);
      other.name = userId;
      return { user: other, oldName };
    },

    async join(room, userId, ws) {
      if (!local.join(room, userId, ws)) return false;
      return follow(PRESENCE_JOIN, [room, userId, node]);
    },

    async leave(room, userId, ws, hold) {
      if (!local.leave(room, userId, ws, hold)) return false;
      return follow(PRESENCE_LEAVE, [room, userId, node]);
    },

    async release(room, userId) {
      if (!local.release(room, userId)) return false;
      return follow(PRESENCE_LEAVE, [room, userId, node]);
    },

    members: (room) => local.members(room),

    async presence(room) {
      const pairs = (await link.script(PRESENCE, [room])) as string[];
      const list: PresenceUser[] = [];
      for (let i = 0; i < pairs.length; i += 2) list.push({ userId: pairs[i]!, name: pairs[i + 1]! });
      return list.sort((a, b) => compareNames(a.name, b.name) || compareNames(a.userId, b.userId));
    },

    roomCount: () => local.roomCount(),
    userCount: () => local.userCount(),
    roomSize: async (room) => Number(await link.send("HLEN", [`chat:pres:${room}`])),
  };

  async function lookup(script: string, args: string[]): Promise<User | undefined> {
    const found = (await link.script(script, args)) as [string, string, string] | null;
    if (found === null) return undefined;
    const [userId, session, name] = found;
    return local.user(userId) ?? remote(userId, session, name);
  }
}

/** This node's record of a user Redis already knows (another node has it, or it is resumed). */
function adopt(local: LocalRoomRegistry<ChatSocket>, userId: string, session: string, name: string): User {
  const here = local.user(userId);
  if (here !== undefined) return here;
  const user = local.createUser(session, userId);
  user.name = name;
  return user;
}
