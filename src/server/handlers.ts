// What the server does with each client frame: parse, then one function per frame
// type, all sharing one context. Bun wiring lives in chat-server.ts; identity and
// membership in membership.ts.
import { parseClientFrame, timestamp, type ClientFrame, type Limits, type MessageFrame } from "../protocol.ts";
import {
  currentRoom,
  dropSlowReader,
  roomTopic,
  sendError,
  sendFrame,
  userTopic,
  type ChatSocket,
} from "./connection.ts";
import type { Logger } from "./log.ts";
import { ack, onJoin, onLeave, onNick, onWho } from "./membership.ts";
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

type Frame<T extends ClientFrame["type"]> = Extract<ClientFrame, { type: T }>;

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
    case "join":
      return onJoin(ctx, ws, frame);
    case "leave":
      return onLeave(ctx, ws, frame);
    case "nick":
      return onNick(ctx, ws, frame);
    case "who":
      return onWho(ctx, ws, frame);
    case "direct":
      return onDirect(ctx, ws, frame);
    case "ping":
      return sendFrame(ws, { type: "pong", timestamp: timestamp() }, ctx.metrics);
    default: {
      const unhandled: never = frame;
      throw new Error(`unhandled frame ${JSON.stringify(unhandled)}`);
    }
  }
}

function onChatMessage(ctx: ChatContext, ws: ChatSocket, frame: Frame<"message">): void {
  const room = frame.room ?? currentRoom(ws);
  if (room === undefined || !ws.data.rooms.includes(room)) {
    const content = room === undefined ? "you are not in any room; join one first" : `you are not in #${room}`;
    sendError(ws, { code: "not_in_room", content, ref: frame.ref }, ctx.metrics);
    return;
  }
  const user = ws.data.user;
  const out: MessageFrame = {
    type: "message",
    id: ctx.rooms.nextMessageId(room),
    room,
    userId: user.userId,
    name: user.name,
    content: frame.content,
    timestamp: timestamp(),
  };
  // Serialised once, published once: Bun fans it out in native code.
  const status = ctx.publish(roomTopic(room), JSON.stringify(out));
  ctx.metrics.messagesPublished++;
  if (status === 0) dropSlowReadersIn(ctx, room);
  ack(ctx, ws, frame.ref, { id: out.id, room });
}

function onDirect(ctx: ChatContext, ws: ChatSocket, frame: Frame<"direct">): void {
  const sender = ws.data.user;
  const recipient = ctx.rooms.findUser(frame.to);
  if (recipient === undefined) {
    sendError(ws, { code: "no_such_user", content: `nobody called '${frame.to.slice(0, 40)}' is connected`, ref: frame.ref }, ctx.metrics);
    return;
  }
  const text = JSON.stringify({
    type: "direct",
    from: sender.userId,
    fromName: sender.name,
    to: recipient.userId,
    toName: recipient.name,
    content: frame.content,
    timestamp: timestamp(),
  });
  // Every connection of both users: the recipient's tabs and the sender's other tabs.
  ctx.publish(userTopic(recipient.userId), text);
  if (recipient !== sender) ctx.publish(userTopic(sender.userId), text);
  ack(ctx, ws, frame.ref);
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
