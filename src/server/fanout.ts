// Who gets a frame. One process: Bun's topics (one per room) do it all. Several
// processes (cluster/cluster-fanout.ts): frames travel through Redis to every node,
// and each node hands them to its own sockets through the same topics. Handlers see
// only this interface, chosen at start.
import type { Awaitable } from "./awaitable.ts";
import { dropSlowReader, roomTopic, sendText, type ChatSocket } from "./connection.ts";
import { count, type Metrics } from "./metrics.ts";
import type { LocalRoomRegistry, UserRecord } from "./rooms.ts";

export interface Fanout {
  /** A room message the message log has stored (published here unless the store did it already). */
  message(room: string, text: string): void;
  /** A frame for everyone in a room, on every node; `except` (a local socket) does not get it. */
  toRoom(room: string, text: string, except?: ChatSocket): void;
  /** A frame for every connection of these users, wherever they are connected. */
  toUsers(userIds: readonly string[], text: string): void;
  /** A frame for a user's connections and everyone who shares a room with the user, each once. */
  toCompanions(user: UserRecord<ChatSocket>, text: string): Awaitable<void>;
  /**
   * A socket is about to join a room: from now on the room's messages are kept for it
   * until `subscribe`, so none falls between the history it is sent and the live feed.
   */
  prepare(ws: ChatSocket, room: string): Awaitable<void>;
  /** The socket gets the room from now on; kept messages with an id above `seenId` are sent first. */
  subscribe(ws: ChatSocket, room: string, seenId: number): void;
  unsubscribe(ws: ChatSocket, room: string): void;
  /** A socket closed: whatever it listened to or was joining, it no longer does. */
  disconnect(ws: ChatSocket): void;
}

/**
 * This node's sockets in a room, through Bun's topic: counted for /metrics, and when
 * Bun dropped the frame for a subscriber at its backpressure limit (publish returns
 * 0), the room is scanned for the slow reader. Only then: the ordinary path never
 * loops over sockets.
 */
export interface RoomDelivery {
  (room: string, text: string, except?: ChatSocket): void;
}

export function createRoomDelivery(
  server: { publish(topic: string, text: string): number; subscriberCount(topic: string): number },
  rooms: LocalRoomRegistry<ChatSocket>,
  metrics: Metrics,
  backpressureLimit: number,
): RoomDelivery {
  return (room, text, except) => {
    const topic = roomTopic(room);
    const subscribers = server.subscriberCount(topic) - (except === undefined ? 0 : 1);
    metrics.deliveries += subscribers;
    metrics.bytesOut += text.length * subscribers;
    // ws.publish skips the socket itself; the server's publish reaches everyone.
    const status = except !== undefined && except.readyState === WebSocket.OPEN ? except.publish(topic, text) : server.publish(topic, text);
    if (status !== 0) return;
    for (const member of rooms.members(room)) {
      if (member.getBufferedAmount() >= backpressureLimit) dropSlowReader(member, metrics);
    }
  };
}

/** One process: everything is local, and Bun's topics do the fan-out. */
export function createLocalFanout(rooms: LocalRoomRegistry<ChatSocket>, deliver: RoomDelivery, metrics: Metrics): Fanout {
  return {
    message(room, text) {
      count(metrics.framesOut, "message");
      deliver(room, text);
    },
    toRoom: deliver,
    toUsers(userIds, text) {
      // Socket by socket (a user has one or a few) rather than a topic per user: that
      // topic cost 0.6 KiB per connection in the idle benchmark.
      for (const userId of new Set(userIds)) {
        for (const connection of rooms.user(userId)?.connections ?? []) sendText(connection, text, metrics, "direct");
      }
    },
    toCompanions(user, text) {
      sendToCompanions(rooms, user, roomsOfConnections(user), text, metrics);
    },
    // Nothing to keep: history is read synchronously, so nothing is published between
    // reading it and subscribing.
    prepare() {},
    subscribe(ws, room) {
      ws.subscribe(roomTopic(room));
    },
    unsubscribe(ws, room) {
      ws.unsubscribe(roomTopic(room));
    },
    // Bun drops a closed socket's topics itself.
    disconnect() {},
  };
}

/** The user's local connections and this node's members of `inRooms`, each once. */
export function sendToCompanions(
  rooms: LocalRoomRegistry<ChatSocket>,
  user: UserRecord<ChatSocket>,
  inRooms: Iterable<string>,
  text: string,
  metrics: Metrics,
): void {
  // A rename is rare, so a loop is fine here.
  const audience = new Set<ChatSocket>(user.connections);
  for (const room of inRooms) for (const member of rooms.members(room)) audience.add(member);
  for (const member of audience) sendText(member, text, metrics, "system");
}

/** Every room any of the user's connections here is in. */
export function roomsOfConnections(user: UserRecord<ChatSocket>): Set<string> {
  const names = new Set<string>();
  for (const connection of user.connections) for (const room of connection.data.rooms) names.add(room);
  return names;
}
