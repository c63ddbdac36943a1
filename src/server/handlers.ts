// What the server does with each connection event and each client frame: one
// function per frame type, all sharing one context. Bun wiring lives in chat-server.ts.
import {
  DEFAULT_ROOM,
  encode,
  nameProblem,
  normaliseRoom,
  parseClientFrame,
  timestamp,
  type ClientFrame,
  type Limits,
  type MessageFrame,
} from "../protocol.ts";
import {
  currentRoom,
  dropSlowReader,
  roomTopic,
  sendError,
  sendFrame,
  type ChatSocket,
} from "./connection.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import type { RoomRegistry } from "./rooms.ts";

export interface ChatContext {
  readonly limits: Limits & { backpressureLimit: number };
  readonly rooms: RoomRegistry<ChatSocket>;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Publishes one serialised frame to every subscriber of a topic (Bun's server.publish). */
  publish(topic: string, text: string): number;
  newSession(): string;
}

// ---------------------------------------------------------------- connection lifecycle

export function handleOpen(ctx: ChatContext, ws: ChatSocket): void {
  const data = ws.data;
  data.userId = ctx.rooms.newUserId();
  data.name = data.userId;
  data.session = ctx.newSession();
  ctx.metrics.connectionsOpened++;

  if (data.requestedName !== undefined) adoptRequestedName(ctx, ws, data.requestedName);

  let room = DEFAULT_ROOM;
  if (data.requestedRoom !== undefined) {
    const normalised = normaliseRoom(data.requestedRoom);
    if (normalised === undefined) {
      sendError(ws, { code: "bad_room", content: `'${data.requestedRoom.slice(0, 70)}' is not a valid room; joined #${DEFAULT_ROOM} instead` }, ctx.metrics);
    } else {
      room = normalised;
    }
  }

  sendFrame(ws, {
    type: "system",
    event: "welcome",
    content: `Welcome, ${data.name}! You are in #${room}.`,
    userId: data.userId,
    name: data.name,
    rooms: [room],
    session: data.session,
    limits: { maxContentBytes: ctx.limits.maxContentBytes, maxPayloadBytes: ctx.limits.maxPayloadBytes },
    timestamp: timestamp(),
  }, ctx.metrics);
  joinRoom(ctx, ws, room);
  ctx.log.info("connect", { conn: data.connId, remote: data.remote, userId: data.userId, name: data.name, room });
}

function adoptRequestedName(ctx: ChatContext, ws: ChatSocket, name: string): void {
  const problem = nameProblem(name);
  if (problem !== undefined) {
    sendError(ws, { code: "bad_name", content: `${problem}; you are ${ws.data.userId}` }, ctx.metrics);
    return;
  }
  if (ctx.rooms.claimName(name, ws.data.userId) === "taken") {
    sendError(ws, { code: "name_taken", content: `the name '${name}' is taken; you are ${ws.data.userId}` }, ctx.metrics);
    return;
  }
  ws.data.name = name;
}

function joinRoom(ctx: ChatContext, ws: ChatSocket, room: string): void {
  const topic = roomTopic(room);
  ws.subscribe(topic);
  ws.data.rooms.push(room);
  if (ctx.rooms.join(room, ws.data.userId, ws)) {
    // ws.publish skips the sender: the newcomer already has its welcome.
    ws.publish(topic, encode({
      type: "system", event: "join", room, userId: ws.data.userId, name: ws.data.name,
      content: `${ws.data.name} joined #${room}`, timestamp: timestamp(),
    }));
  }
}

export function handleClose(ctx: ChatContext, ws: ChatSocket, code: number, reason: string): void {
  const data = ws.data;
  ctx.metrics.connectionsClosed++;
  if (code === 1006 && reason === "Received too big message") ctx.metrics.oversizeCloses++;
  for (const room of data.rooms) {
    if (ctx.rooms.leave(room, data.userId, ws)) {
      // The socket is gone, so the server publishes: everyone left in the room hears it.
      ctx.publish(roomTopic(room), encode({
        type: "system", event: "leave", room, userId: data.userId, name: data.name,
        content: `${data.name} left #${room}`, timestamp: timestamp(),
      }));
    }
  }
  data.rooms = [];
  ctx.rooms.releaseName(data.name, data.userId);
  ctx.rooms.releaseUserId(data.userId);
  const fields = { conn: data.connId, userId: data.userId, code, reason: reason || undefined, cause: data.closing };
  if (data.closing === "slow_reader" || data.closing === "heartbeat") ctx.log.warn("disconnect", fields);
  else ctx.log.info("disconnect", fields);
}

// ---------------------------------------------------------------- frames

export function handleMessage(ctx: ChatContext, ws: ChatSocket, message: string | Buffer): void {
  ctx.metrics.framesIn++;
  ws.data.alive = true;
  if (typeof message !== "string") {
    sendError(ws, { code: "bad_frame", content: "binary frames are not accepted; send text" }, ctx.metrics);
    return;
  }
  const parsed = parseClientFrame(message, ctx.limits);
  if (!parsed.ok) {
    ctx.log.debug("bad_frame", { conn: ws.data.connId, code: parsed.error.code });
    sendError(ws, parsed.error, ctx.metrics);
    return;
  }
  dispatch(ctx, ws, parsed.frame);
}

function dispatch(ctx: ChatContext, ws: ChatSocket, frame: ClientFrame): void {
  switch (frame.type) {
    case "message":
      return onChatMessage(ctx, ws, frame);
    case "ping":
      return sendFrame(ws, { type: "pong", timestamp: timestamp() }, ctx.metrics);
    default: {
      const unhandled: never = frame;
      throw new Error(`unhandled frame ${JSON.stringify(unhandled)}`);
    }
  }
}

function onChatMessage(ctx: ChatContext, ws: ChatSocket, frame: Extract<ClientFrame, { type: "message" }>): void {
  const room = frame.room ?? currentRoom(ws);
  if (room === undefined || !ws.data.rooms.includes(room)) {
    sendError(ws, { code: "not_in_room", content: `you are not in #${frame.room ?? "any room"}`, ref: frame.ref }, ctx.metrics);
    return;
  }
  const out: MessageFrame = {
    type: "message",
    id: ctx.rooms.nextMessageId(room),
    room,
    userId: ws.data.userId,
    name: ws.data.name,
    content: frame.content,
    timestamp: timestamp(),
  };
  // Serialised once, published once: Bun fans it out in native code.
  const status = ctx.publish(roomTopic(room), JSON.stringify(out));
  ctx.metrics.messagesPublished++;
  if (status === 0) dropSlowReadersIn(ctx, room);
  if (frame.ref !== undefined) {
    sendFrame(ws, { type: "ack", ref: frame.ref, id: out.id, room, timestamp: out.timestamp }, ctx.metrics);
  }
}

/**
 * `publish` reports only the worst subscriber, and 0 means Bun dropped the frame for
 * someone at the backpressure limit. Only then is the room scanned, so the scan never
 * runs on the ordinary path.
 */
function dropSlowReadersIn(ctx: ChatContext, room: string): void {
  for (const member of ctx.rooms.members(room)) {
    if (member.getBufferedAmount() >= ctx.limits.backpressureLimit) dropSlowReader(member, ctx.metrics);
  }
}
