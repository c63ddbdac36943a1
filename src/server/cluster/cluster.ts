// One node of a cluster: connects to Redis, and provides the store, registry and
// fan-out that replace the local ones (chat-server.ts `Backend`). Each node keeps a
// heartbeat key alive; every node regularly removes nodes whose heartbeat expired, so
// a killed node's users leave `who` (with leave notices) within NODE_GONE_MS.
import { encode, timestamp } from "../../protocol.ts";
import type { Backend } from "../chat-server.ts";
import type { ChatSocket } from "../connection.ts";
import { createRedisHistory } from "../history/redis.ts";
import type { Logger } from "../log.ts";
import { isGeneratedId, type LocalRoomRegistry } from "../rooms.ts";
import { createClusterFanout, type ClusterFanout } from "./cluster-fanout.ts";
import { createClusterRooms } from "./cluster-rooms.ts";
import { RedisLink } from "./redis-link.ts";
import { BUS_CHANNEL, CLAIM_OWN_NAME, HEARTBEAT, PRESENCE_JOIN, PRUNE_NODE, REAP, RENAME, USER_CLAIM } from "./scripts.ts";

export interface ClusterOptions {
  /** redis:// or rediss:// URL of the Redis every node shares. */
  url: string;
  historyLimit: number;
  /** How long a dead node's users may still resume on another node. */
  graceMs: number;
  /** Rooms with more users than this get no leave notices for a dead node's users. */
  announceLimit: number;
  log: Logger;
}

/** A node's heartbeat lives this long; others check every REAP_EVERY_MS, so a dead node is gone within about 11 s (< 15 s). */
const HEARTBEAT_TTL_MS = 8000;
const HEARTBEAT_EVERY_MS = 2000;
const REAP_EVERY_MS = 3000;
/** At least this long a direct message's ref is remembered (twice the grace period when that is longer). */
const DIRECT_REF_TTL_MS = 10 * 60_000;

export interface Cluster extends Backend {
  readonly node: string;
}

/** Joins the cluster at `url`; throws an Error naming the URL when Redis cannot be reached. */
export async function openCluster(options: ClusterOptions): Promise<Cluster> {
  const { log } = options;
  const node = Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString("hex");
  let fanout: ClusterFanout | undefined;
  let local: LocalRoomRegistry<ChatSocket> | undefined;
  const link = await RedisLink.connect(options.url, (message, channel) => fanout?.receive(message, channel), log);
  const history = createRedisHistory(link, { historyLimit: options.historyLimit });
  await link.subscribe(BUS_CHANNEL);

  /**
   * After an outage, after a change Redis could not be told about, or when others may
   * have reaped this node: says again who is here, and takes back what Redis still
   * holds that is gone here (a leave that failed). The commands are all queued at
   * once from one snapshot, so a change made here afterwards reaches Redis after them.
   */
  let stale = false;
  let reasserting: Promise<void> | undefined;
  const reassert = (): Promise<void> => {
    // Cleared in a .finally callback, which always runs after this assignment (a finally
    // block inside the async function would run first when it returns without waiting).
    reasserting ??= reassertNow().finally(() => (reasserting = undefined));
    return reasserting;
  };
  const reassertNow = async (): Promise<void> => {
    if (local === undefined) return;
    try {
      stale = false;
      const { users, presence } = local.snapshot();
      const sent: Promise<unknown>[] = [];
      for (const user of users) {
        sent.push(link.script(USER_CLAIM, [user.userId, user.session, node, user.connections.length > 0 ? 1 : 0]));
        if (user.name !== user.userId) sent.push(link.script(RENAME, [user.userId, user.name, user.name.toLowerCase()]));
        // A token user's id is its name entry while it is here, renamed or not (after the name, which may be it).
        if (!isGeneratedId(user.userId)) sent.push(link.script(CLAIM_OWN_NAME, [user.userId, user.userId.toLowerCase(), "keep"]));
      }
      for (const [room, userId] of presence) sent.push(link.script(PRESENCE_JOIN, [room, userId, node]));
      const keep = [users.length, ...users.map((u) => u.userId), ...presence.flat()];
      // Sent after the claims, awaited with them: a prune refused while a claim already
      // failed would otherwise reject with nobody waiting, which ends the process.
      const prune = link.script(PRUNE_NODE, [node, options.graceMs, ...keep]);
      const [pruned] = await Promise.all([prune, ...sent]);
      announceDepartures(pruned as (string | number)[]);
    } catch (error) {
      stale = true;
      throw error;
    }
  };

  /** Leave notices for users gone from a room with a node (answers of REAP and PRUNE_NODE). */
  const announceDepartures = (departures: (string | number)[]) => {
    for (let i = 0; i < departures.length; i += 4) {
      const [room, userId, name, left] = departures.slice(i, i + 4) as [string, string, string, number];
      log.info("node_user_gone", { room, userId });
      if (left + 1 > options.announceLimit) continue;
      fanout?.toRoom(room, encode({ type: "system", event: "leave", room, userId, name, content: `${name} left #${room}`, timestamp: timestamp() }));
    }
  };

  let started = false;
  const heartbeat = async () => {
    try {
      const alive = await link.script(HEARTBEAT, [node, HEARTBEAT_TTL_MS]);
      // An expired heartbeat means the others may have reaped this node: say again who is here.
      if ((alive === 0 && started) || stale) await reassert();
      started = true;
    } catch {
      // Redis away: health says degraded; the link reconnects and calls onRecovered.
    }
  };
  await heartbeat();

  const reap = async () => {
    try {
      announceDepartures((await link.script(REAP, [options.graceMs])) as (string | number)[]);
    } catch {
      // Redis away: nobody can be reaped until it is back.
    }
  };

  const timers = [setInterval(() => void heartbeat(), HEARTBEAT_EVERY_MS), setInterval(() => void reap(), REAP_EVERY_MS)];

  /**
   * After an outage: say again who is here, then read back the room messages pub/sub
   * dropped meanwhile. Until that has worked the node is degraded, and a failure (Redis
   * still loading, or gone again) tries again later: a message missed in the outage
   * would otherwise wait for the room's next one to reveal the hole.
   */
  let unrecovered = false;
  /** Counts recoveries: only the latest one's outcome says whether the node is whole. */
  let recoveries = 0;
  let recoveryRetry: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  const recover = async (): Promise<void> => {
    if (closed) return;
    const mine = ++recoveries;
    unrecovered = true;
    clearTimeout(recoveryRetry);
    try {
      await heartbeat();
      await reassert();
      await fanout?.catchUp();
      if (mine === recoveries) unrecovered = false;
    } catch (error) {
      log.error("cluster_recovery_failed", { message: String(error) });
      if (mine === recoveries && !closed) recoveryRetry = setTimeout(() => void recover(), HEARTBEAT_EVERY_MS);
    }
  };
  link.onRecovered = () => void recover();
  log.info("cluster_joined", { node, url: options.url });

  return {
    node,
    history,
    rooms(registry) {
      local = registry;
      return createClusterRooms(link, node, registry, (error) => {
        stale = true;
        log.warn("cluster_change_unsaved", { message: String(error) });
      });
    },
    fanout(registry, deliver, metrics) {
      fanout = createClusterFanout(link, node, registry, deliver, metrics);
      return fanout;
    },
    directsSent: {
      // Remembered for as long as a client could come back as the same user and resend.
      claim: async (key) => (await link.send("SET", [`chat:direct:${key}`, "1", "NX", "PX", Math.max(DIRECT_REF_TTL_MS, 2 * options.graceMs)])) === "OK",
      release: async (key) => void (await link.send("DEL", [`chat:direct:${key}`])),
    },
    health: () => (link.healthy && !unrecovered ? "ok" : "degraded"),
    async close() {
      closed = true;
      for (const timer of timers) clearInterval(timer);
      clearTimeout(recoveryRetry);
      // The heartbeat is left to expire: the users' clients have that long to resume
      // on another node before the others announce that they left.
      link.close();
    },
  };
}
