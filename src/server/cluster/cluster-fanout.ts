// Fan-out across nodes. Room frames go through the room's Redis channel; each node
// subscribes only to rooms where it has connections and hands what arrives to its
// own sockets through Bun's topics. Direct messages and rename notices go on one bus
// channel that every node reads. Room messages are published by the append script
// itself (history/redis.ts), so every node hears them in id order.
import { roomTopic, sendText, type ChatSocket } from "../connection.ts";
import { roomsOfConnections, sendToCompanions, type Fanout, type RoomDelivery } from "../fanout.ts";
import { count, type Metrics } from "../metrics.ts";
import type { LocalRoomRegistry, UserRecord } from "../rooms.ts";
import type { RedisLink } from "./redis-link.ts";
import { BUS_CHANNEL, ROOM_CHANNEL_PREFIX } from "./scripts.ts";

type BusEvent =
  | { t: "users"; from: string; ids: string[]; text: string }
  | { t: "companions"; from: string; userId: string; name: string; rooms: string[]; text: string };

export interface ClusterFanout extends Fanout {
  /** Everything the node's subscriber connection receives. */
  receive(message: string, channel: string): void;
  /** After an outage: delivers what every listened room missed meanwhile. */
  catchUp(): Promise<void>;
}

/** The most messages one repair reads back; older missing ones are skipped (clients replay them with join+since). */
const REPAIR_LIMIT = 1000;

/**
 * What this node has delivered of a room. Ids in a room have no holes, so a hole
 * means Redis pub/sub lost messages (it delivers at most once, and nothing while this
 * node resubscribes): they are read back from the room's stream, in order.
 */
interface Feed {
  /** The last id delivered here; 0 until known (see `prepare`). */
  last: number;
  /** Messages that arrived while a repair reads what came before them. */
  waiting: Array<{ id: number; text: string }>;
  repairing: Promise<void> | undefined;
}

export function createClusterFanout(
  link: RedisLink,
  node: string,
  local: LocalRoomRegistry<ChatSocket>,
  deliver: RoomDelivery,
  metrics: Metrics,
): ClusterFanout {
  /** Sockets here in each room (joined or joining): the node listens to rooms with any. */
  const listeners = new Map<string, Set<ChatSocket>>();
  /** The rooms each socket listens to, so a closed socket is taken out of all of them. */
  const roomsOf = new Map<ChatSocket, Set<string>>();
  /** Sockets between `prepare` and `subscribe`, with the room messages that arrived meanwhile. */
  const joining = new Map<string, Map<ChatSocket, Array<{ id: number; text: string }>>>();
  /** Sockets that must not get a frame they caused, by the token the frame travels with (this node's only). */
  const excepted = new Map<string, ChatSocket>();
  const feeds = new Map<string, Feed>();
  let nextToken = 1;

  const publish = (channel: string, payload: string, fallback: () => void) => {
    // With Redis away, this node's own users still hear it.
    link.send("PUBLISH", [channel, payload]).catch(fallback);
  };
  const bus = (event: BusEvent) => publish(BUS_CHANNEL, JSON.stringify(event), () => {});

  const fromRoom = (room: string, payload: string) => {
    const bar = payload.indexOf("|");
    const bar2 = payload.indexOf("|", bar + 1);
    const id = Number(payload.slice(0, bar));
    const token = payload.slice(bar + 1, bar2);
    const text = payload.slice(bar2 + 1);
    if (id > 0) return receiveMessage(room, id, text);
    const except = token === "" ? undefined : excepted.get(token);
    if (except !== undefined) excepted.delete(token);
    count(metrics.framesOut, "system");
    deliver(room, text, except);
  };

  const receiveMessage = (room: string, id: number, text: string) => {
    const feed = feeds.get(room);
    if (feed === undefined) return; // no socket here listens any more
    if (feed.repairing !== undefined) return void feed.waiting.push({ id, text });
    if (feed.last > 0 && id > feed.last + 1) {
      feed.waiting.push({ id, text });
      return void repair(room, feed, id - 1);
    }
    deliverMessage(room, feed, id, text);
  };

  const deliverMessage = (room: string, feed: Feed, id: number, text: string) => {
    if (id <= feed.last) return;
    feed.last = id;
    count(metrics.framesOut, "message");
    deliver(room, text);
    // Only messages are kept for joining sockets: a join or leave notice in that
    // moment is covered by the presence list the join ends with.
    for (const kept of joining.get(room)?.values() ?? []) kept.push({ id, text });
  };

  /** Delivers the stored messages after the feed's last one, up to `upTo`, then what waited. One repair per feed at a time. */
  const repair = (room: string, feed: Feed, upTo: number): Promise<void> => {
    const run = async () => {
      for (;;) {
        try {
          const from = Math.max(feed.last + 1, upTo - REPAIR_LIMIT + 1);
          const entries = (await link.send("XRANGE", [`chat:log:${room}`, `${from}-0`, `${upTo}-0`])) as Array<[string, string[]]>;
          if (feeds.get(room) !== feed) return; // nobody here listens any more
          for (const [entry, fields] of entries) deliverMessage(room, feed, Number.parseInt(entry, 10), fields[fields.indexOf("m") + 1] ?? "");
          break;
        } catch {
          // Redis away: try again shortly; what arrives meanwhile waits, in order.
          await Bun.sleep(500);
          if (feeds.get(room) !== feed) return;
        }
      }
      feed.last = Math.max(feed.last, upTo);
      const waiting = feed.waiting.sort((a, b) => a.id - b.id);
      feed.waiting = [];
      feed.repairing = undefined;
      for (const { id, text } of waiting) receiveMessage(room, id, text);
    };
    feed.repairing ??= run();
    return feed.repairing;
  };

  const fromBus = (event: BusEvent) => {
    if (event.from === node) return;
    if (event.t === "users") {
      for (const userId of new Set(event.ids)) {
        for (const connection of local.user(userId)?.connections ?? []) sendText(connection, event.text, metrics, "direct");
      }
      return;
    }
    const user = local.user(event.userId);
    if (user !== undefined) user.name = event.name;
    sendToCompanions(local, user ?? nobody(event.userId), event.rooms, event.text, metrics);
  };

  /** Stops listening to a room for a socket (idempotent); the node unsubscribes when none is left. */
  const stopListening = (ws: ChatSocket, room: string) => {
    const kept = joining.get(room);
    kept?.delete(ws);
    if (kept?.size === 0) joining.delete(room);
    roomsOf.get(ws)?.delete(room);
    const sockets = listeners.get(room);
    if (sockets === undefined || !sockets.delete(ws) || sockets.size > 0) return;
    listeners.delete(room);
    feeds.delete(room);
    void link.unsubscribe(`${ROOM_CHANNEL_PREFIX}${room}`);
  };

  return {
    receive(message, channel) {
      if (channel === BUS_CHANNEL) fromBus(JSON.parse(message) as BusEvent);
      else if (channel.startsWith(ROOM_CHANNEL_PREFIX)) fromRoom(channel.slice(ROOM_CHANNEL_PREFIX.length), message);
    },

    async catchUp() {
      for (const [room, feed] of feeds) {
        // A feed whose start is unknown has delivered nothing that could have a hole after it.
        if (feed.last === 0) continue;
        const last = Number((await link.send("GET", [`chat:seq:${room}`])) ?? 0);
        if (last > feed.last) await repair(room, feed, last);
      }
    },

    // The append script published it already.
    message() {},

    toRoom(room, text, except) {
      let token = "";
      if (except !== undefined) {
        token = `${node}.${nextToken++}`;
        excepted.set(token, except);
      }
      publish(`${ROOM_CHANNEL_PREFIX}${room}`, `0|${token}|${text}`, () => {
        excepted.delete(token);
        deliver(room, text, except);
      });
    },

    toUsers(userIds, text) {
      for (const userId of new Set(userIds)) {
        for (const connection of local.user(userId)?.connections ?? []) sendText(connection, text, metrics, "direct");
      }
      bus({ t: "users", from: node, ids: [...userIds], text });
    },

    async toCompanions(user, text) {
      const rooms = roomsOfConnections(user);
      try {
        for (const room of (await link.send("SMEMBERS", [`chat:urooms:${user.userId}`])) as string[]) rooms.add(room);
      } catch {
        // Redis away: this node's companions still hear it.
      }
      sendToCompanions(local, user, rooms, text, metrics);
      bus({ t: "companions", from: node, userId: user.userId, name: user.name, rooms: [...rooms], text });
    },

    async prepare(ws, room) {
      let kept = joining.get(room);
      if (kept === undefined) joining.set(room, (kept = new Map()));
      kept.set(ws, []);
      let mine = roomsOf.get(ws);
      if (mine === undefined) roomsOf.set(ws, (mine = new Set()));
      mine.add(room);
      let sockets = listeners.get(room);
      if (sockets === undefined) {
        listeners.set(room, (sockets = new Set()));
        feeds.set(room, { last: 0, waiting: [], repairing: undefined });
      }
      sockets.add(ws);
      const feed = feeds.get(room)!;
      // Every joiner waits until the node really listens (the first one's SUBSCRIBE),
      // so the history it reads next cannot miss a message. With Redis away the link
      // subscribes when it is back.
      await link.subscribe(`${ROOM_CHANNEL_PREFIX}${room}`).catch(() => {});
      if (feed.last === 0 && feeds.get(room) === feed) {
        // Where the feed starts: anything later arrives through the subscription.
        const last = Number((await link.send("GET", [`chat:seq:${room}`]).catch(() => 0)) ?? 0);
        feed.last = Math.max(feed.last, last);
      }
    },

    subscribe(ws, room, seen) {
      const kept = joining.get(room);
      const messages = kept?.get(ws);
      kept?.delete(ws);
      if (kept?.size === 0) joining.delete(room);
      if (ws.readyState !== WebSocket.OPEN) return;
      for (const { id, text } of messages ?? []) if (id > seen) sendText(ws, text, metrics, "message");
      ws.subscribe(roomTopic(room));
    },

    unsubscribe(ws, room) {
      ws.unsubscribe(roomTopic(room));
      stopListening(ws, room);
    },

    disconnect(ws) {
      for (const room of roomsOf.get(ws) ?? []) stopListening(ws, room);
      roomsOf.delete(ws);
      for (const [token, socket] of excepted) if (socket === ws) excepted.delete(token);
    },
  };
}

function nobody(userId: string): UserRecord<ChatSocket> {
  return { userId, name: userId, session: "", connections: [] };
}
