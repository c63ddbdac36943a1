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

export function createClusterFanout(
  link: RedisLink,
  node: string,
  local: LocalRoomRegistry<ChatSocket>,
  deliver: RoomDelivery,
  metrics: Metrics,
): ClusterFanout {
  /** Sockets here in each room (joined or joining): the node listens to rooms with any. */
  const listeners = new Map<string, number>();
  /** Sockets between `prepare` and `subscribe`, with the room messages that arrived meanwhile. */
  const joining = new Map<string, Map<ChatSocket, Array<{ id: number; text: string }>>>();
  /** Sockets that must not get a frame they caused, by the token the frame travels with. */
  const excepted = new Map<string, ChatSocket>();
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

  // Redis pub/sub delivers at most once: a message published while this node was
  // reconnecting never arrives. Ids in a room have no holes, so a hole means a loss;
  // the missing messages are read back from the room's stream and delivered in order.
  const feeds = new Map<string, { last: number; waiting: Array<{ id: number; text: string }> | undefined }>();

  const receiveMessage = (room: string, id: number, text: string) => {
    const feed = feeds.get(room);
    if (feed === undefined) return; // no socket here listens any more
    if (feed.waiting !== undefined) return void feed.waiting.push({ id, text });
    if (feed.last > 0 && id > feed.last + 1) {
      feed.waiting = [{ id, text }];
      return void repair(room, id - 1);
    }
    deliverMessage(room, id, text);
  };

  const deliverMessage = (room: string, id: number, text: string) => {
    const feed = feeds.get(room);
    if (feed === undefined || id <= feed.last) return;
    feed.last = id;
    count(metrics.framesOut, "message");
    deliver(room, text);
    // Only messages are kept for joining sockets: a join or leave notice in that
    // moment is covered by the presence list the join ends with.
    for (const kept of joining.get(room)?.values() ?? []) kept.push({ id, text });
  };

  /** Delivers the room's stored messages after the last one delivered, up to `upTo`, then what waited. */
  const repair = async (room: string, upTo: number): Promise<void> => {
    const feed = feeds.get(room);
    if (feed === undefined) return;
    feed.waiting ??= [];
    try {
      const entries = (await link.send("XRANGE", [`chat:log:${room}`, `${feed.last + 1}-0`, `${upTo}-0`])) as Array<[string, string[]]>;
      for (const [entry, fields] of entries) deliverMessage(room, Number.parseInt(entry, 10), fields[fields.indexOf("m") + 1] ?? "");
    } catch {
      setTimeout(() => void repair(room, upTo), 500);
      return;
    }
    const waiting = feed.waiting.sort((a, b) => a.id - b.id);
    feed.waiting = undefined;
    for (const { id, text } of waiting) deliverMessage(room, id, text);
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

  return {
    receive(message, channel) {
      if (channel === BUS_CHANNEL) fromBus(JSON.parse(message) as BusEvent);
      else if (channel.startsWith(ROOM_CHANNEL_PREFIX)) fromRoom(channel.slice(ROOM_CHANNEL_PREFIX.length), message);
    },

    async catchUp() {
      for (const room of feeds.keys()) {
        const last = Number((await link.send("GET", [`chat:seq:${room}`])) ?? 0);
        if (last > (feeds.get(room)?.last ?? last)) await repair(room, last);
      }
    },

    // The append script published it already.
    message() {},

    toRoom(room, text, except) {
      let token = "";
      if (except !== undefined) {
        token = `${nextToken++}`;
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
      const count = (listeners.get(room) ?? 0) + 1;
      listeners.set(room, count);
      if (count === 1) feeds.set(room, { last: 0, waiting: undefined });
      // With Redis away the link subscribes when it is back.
      if (count === 1) await link.subscribe(`${ROOM_CHANNEL_PREFIX}${room}`).catch(() => {});
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
      const kept = joining.get(room);
      kept?.delete(ws);
      if (kept?.size === 0) joining.delete(room);
      const count = (listeners.get(room) ?? 1) - 1;
      if (count > 0) return void listeners.set(room, count);
      listeners.delete(room);
      feeds.delete(room);
      void link.unsubscribe(`${ROOM_CHANNEL_PREFIX}${room}`);
    },
  };
}

function nobody(userId: string): UserRecord<ChatSocket> {
  return { userId, name: userId, session: "", connections: new Set() };
}
