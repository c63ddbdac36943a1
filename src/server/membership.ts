// Identity and membership: connecting and disconnecting, joining and leaving rooms,
// names, presence. Notices go out through room topics; a user with several
// connections counts once, so join/leave are announced for the first/last one.
import {
  DEFAULT_ROOM,
  encode,
  nameProblem,
  normaliseRoom,
  timestamp,
  type ClientFrame,
  type SystemFrame,
} from "../protocol.ts";
import { currentRoom, roomTopic, sendError, sendFrame, sendText, userTopic, type ChatSocket } from "./connection.ts";
import type { ChatContext } from "./handlers.ts";

type Frame<T extends ClientFrame["type"]> = Extract<ClientFrame, { type: T }>;

export function handleOpen(ctx: ChatContext, ws: ChatSocket): void {
  const data = ws.data;
  ctx.metrics.connectionsOpened++;
  // A live session makes this connection one more of the same user (a second tab).
  const existing = data.requestedSession === undefined ? undefined : ctx.rooms.userBySession(data.requestedSession);
  const user = existing ?? ctx.rooms.createUser(ctx.newSession());
  data.user = user;
  ctx.rooms.attach(user, ws);
  ws.subscribe(userTopic(user.userId));

  if (data.requestedName !== undefined && data.requestedName !== user.name) {
    // A brand-new user is in no room yet: nobody needs to hear about its name.
    changeName(ctx, ws, data.requestedName, undefined, existing !== undefined);
  }

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
    content: `Welcome, ${user.name}! You are in #${room}.`,
    userId: user.userId,
    name: user.name,
    rooms: [room],
    session: user.session,
    limits: {
      maxContentBytes: ctx.limits.maxContentBytes,
      maxPayloadBytes: ctx.limits.maxPayloadBytes,
      maxRoomsPerConnection: ctx.limits.maxRoomsPerConnection,
    },
    timestamp: timestamp(),
  }, ctx.metrics);
  enterRoom(ctx, ws, room, { tellSelf: false });
  ctx.log.info("connect", { conn: data.connId, remote: data.remote, userId: user.userId, name: user.name, room, resumed: existing !== undefined || undefined });
}

export function handleClose(ctx: ChatContext, ws: ChatSocket, code: number, reason: string): void {
  const data = ws.data;
  const user = data.user;
  ctx.metrics.connectionsClosed++;
  if (code === 1006 && reason === "Received too big message") ctx.metrics.oversizeCloses++;
  for (const room of data.rooms) {
    // The socket is gone, so the server publishes: everyone left in the room hears it.
    if (ctx.rooms.leave(room, user.userId, ws)) ctx.publish(roomTopic(room), encode(leaveNotice(room, ws)));
  }
  data.rooms = [];
  ctx.rooms.detach(user, ws);
  const fields = { conn: data.connId, userId: user.userId, code, reason: reason || undefined, cause: data.closing };
  if (data.closing === "slow_reader" || data.closing === "heartbeat") ctx.log.warn("disconnect", fields);
  else ctx.log.info("disconnect", fields);
}

// ---------------------------------------------------------------- rooms

export function onJoin(ctx: ChatContext, ws: ChatSocket, frame: Frame<"join">): void {
  const rooms = ws.data.rooms;
  const at = rooms.indexOf(frame.room);
  if (at >= 0) {
    // Already there: joining again only makes it the current room.
    rooms.splice(at, 1);
    rooms.push(frame.room);
    sendFrame(ws, joinNotice(frame.room, ws), ctx.metrics);
  } else if (rooms.length >= ctx.limits.maxRoomsPerConnection) {
    sendError(ws, { code: "bad_room", content: `you are in ${rooms.length} rooms, the most allowed; leave one first`, ref: frame.ref }, ctx.metrics);
    return;
  } else {
    enterRoom(ctx, ws, frame.room, { tellSelf: true });
  }
  sendFrame(ws, { type: "presence", room: frame.room, users: ctx.rooms.presence(frame.room), timestamp: timestamp() }, ctx.metrics);
  ack(ctx, ws, frame.ref);
}

function enterRoom(ctx: ChatContext, ws: ChatSocket, room: string, options: { tellSelf: boolean }): void {
  const topic = roomTopic(room);
  ws.data.rooms.push(room);
  ws.subscribe(topic);
  const notice = joinNotice(room, ws);
  if (ctx.rooms.join(room, ws.data.user.userId, ws)) {
    // ws.publish skips the sender; the server's publish includes it.
    if (options.tellSelf) ctx.publish(topic, encode(notice));
    else ws.publish(topic, encode(notice));
  } else if (options.tellSelf) {
    // The user was already here through another connection: only this one needs to know.
    sendFrame(ws, notice, ctx.metrics);
  }
}

export function onLeave(ctx: ChatContext, ws: ChatSocket, frame: Frame<"leave">): void {
  const rooms = ws.data.rooms;
  const at = rooms.indexOf(frame.room);
  if (at < 0) {
    sendError(ws, { code: "not_in_room", content: `you are not in #${frame.room}`, ref: frame.ref }, ctx.metrics);
    return;
  }
  rooms.splice(at, 1);
  ws.unsubscribe(roomTopic(frame.room));
  const notice = leaveNotice(frame.room, ws);
  if (ctx.rooms.leave(frame.room, ws.data.user.userId, ws)) ctx.publish(roomTopic(frame.room), encode(notice));
  sendFrame(ws, notice, ctx.metrics);
  ack(ctx, ws, frame.ref);
}

export function onWho(ctx: ChatContext, ws: ChatSocket, frame: Frame<"who">): void {
  const room = frame.room ?? currentRoom(ws);
  if (room === undefined) {
    sendError(ws, { code: "not_in_room", content: "you are not in any room; name one", ref: frame.ref }, ctx.metrics);
    return;
  }
  sendFrame(ws, { type: "presence", room, users: ctx.rooms.presence(room), timestamp: timestamp() }, ctx.metrics);
  ack(ctx, ws, frame.ref);
}

// ---------------------------------------------------------------- names

export function onNick(ctx: ChatContext, ws: ChatSocket, frame: Frame<"nick">): void {
  if (changeName(ctx, ws, frame.name, frame.ref, true)) ack(ctx, ws, frame.ref);
}

/** Validates and claims a name, then (if `announce`) tells every room the user is in. False when refused. */
function changeName(ctx: ChatContext, ws: ChatSocket, name: string, ref: string | undefined, announce: boolean): boolean {
  const user = ws.data.user;
  const problem = nameProblem(name);
  if (problem !== undefined) {
    sendError(ws, { code: "bad_name", content: `${problem}; you are still ${user.name}`, ref }, ctx.metrics);
    return false;
  }
  const oldName = user.name;
  if (name === oldName) return true;
  if (ctx.rooms.rename(user, name) === "taken") {
    sendError(ws, { code: "name_taken", content: `the name '${name}' is taken; you are still ${oldName}`, ref }, ctx.metrics);
    return false;
  }
  if (!announce) return true;
  const notice = encode({
    type: "system", event: "nick", userId: user.userId, name, oldName,
    content: `${oldName} is now known as ${name}`, timestamp: timestamp(),
  });
  // Everyone who shares a room with the user, and the user's own connections, hears
  // it once, however many rooms they share: a rename is rare, so a loop is fine here.
  const audience = new Set<ChatSocket>(user.connections);
  for (const connection of user.connections) {
    for (const room of connection.data.rooms) for (const member of ctx.rooms.members(room)) audience.add(member);
  }
  for (const member of audience) sendText(member, notice, ctx.metrics);
  return true;
}

// ---------------------------------------------------------------- helpers

function joinNotice(room: string, ws: ChatSocket): SystemFrame {
  const { userId, name } = ws.data.user;
  return { type: "system", event: "join", room, userId, name, content: `${name} joined #${room}`, timestamp: timestamp() };
}

function leaveNotice(room: string, ws: ChatSocket): SystemFrame {
  const { userId, name } = ws.data.user;
  return { type: "system", event: "leave", room, userId, name, content: `${name} left #${room}`, timestamp: timestamp() };
}

export function ack(ctx: ChatContext, ws: ChatSocket, ref: string | undefined, extra: { id?: number; room?: string } = {}): void {
  if (ref !== undefined) sendFrame(ws, { type: "ack", ref, ...extra, timestamp: timestamp() }, ctx.metrics);
}
