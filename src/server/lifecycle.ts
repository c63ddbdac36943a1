// Connecting, disconnecting and coming back. A user whose last connection drops is
// held for a grace period: still present in its rooms, name reserved, nothing
// announced. Reconnecting with its session secret within the grace period (even to a
// restarted server: sessions are stored) restores the same userId, name and rooms
// without join/leave noise; otherwise the leave is announced when the grace ends.
import { DEFAULT_HISTORY_LIMIT, DEFAULT_ROOM, encode, normaliseRoom, timestamp } from "../protocol.ts";
import { roomTopic, sendError, sendFrame, type ChatSocket } from "./connection.ts";
import type { ChatContext } from "./handlers.ts";
import { announces, changeName, enterRoom, leaveNotice, persistSession, sendHistory } from "./membership.ts";
import type { UserRecord } from "./rooms.ts";

type User = UserRecord<ChatSocket>;

export function handleOpen(ctx: ChatContext, ws: ChatSocket): void {
  const data = ws.data;
  ctx.metrics.connectionsOpened++;
  const resumed = data.authSub !== undefined
    ? authenticated(ctx, data.authSub)
    : data.requestedSession === undefined ? undefined : resume(ctx, data.requestedSession);
  const user = resumed?.user ?? ctx.rooms.createUser(ctx.newSession(), data.authSub);
  data.user = user;
  ctx.rooms.attach(user, ws);

  let rooms = resumed?.rooms;
  if (rooms === undefined || rooms.length === 0) {
    // A token's name is the user's name (checked like any other); without one, ?name= asks for one.
    const wanted = data.authName ?? data.requestedName;
    if (resumed === undefined && wanted !== undefined) changeName(ctx, ws, wanted, undefined, false);
    rooms = [requestedRoom(ctx, ws)];
  }

  sendFrame(ws, {
    type: "system",
    event: "welcome",
    content: resumed ? `Welcome back, ${user.name}! You are in ${rooms.map((r) => `#${r}`).join(", ")}.` : `Welcome, ${user.name}! You are in #${rooms[0]}.`,
    userId: user.userId,
    name: user.name,
    rooms,
    session: user.session,
    limits: ctx.welcomeLimits,
    timestamp: timestamp(),
  }, ctx.metrics);
  // A resuming client asks for what it missed with join+since; a new one sees the recent
  // past, always as one frame (maybe empty), so a client knows when it has caught up.
  if (resumed === undefined) {
    const recent = ctx.history.recent(rooms[0]!, DEFAULT_HISTORY_LIMIT);
    sendHistory(ctx, ws, rooms[0]!, recent, recent.length < DEFAULT_HISTORY_LIMIT);
  }
  // Coming back is not news: only a brand-new user is announced.
  for (const room of rooms) enterRoom(ctx, ws, room, { announce: resumed === undefined, tellSelf: false });
  if (resumed !== undefined) ctx.metrics.resumes++;
  ctx.log.info("connect", {
    conn: data.connId, remote: data.remote, userId: user.userId, name: user.name, rooms: rooms.join(","), resumed: resumed !== undefined || undefined,
  });
}

/** With authentication the token's subject is the user: another connection of a live (or away) one joins it. */
function authenticated(ctx: ChatContext, sub: string): { user: User; rooms: string[] | undefined } | undefined {
  const live = ctx.rooms.user(sub);
  return live === undefined ? undefined : resume(ctx, live.session);
}

/** The user a session secret brings back: live (another tab), away in its grace period, or stored before a restart. */
function resume(ctx: ChatContext, session: string): { user: User; rooms: string[] | undefined } | undefined {
  const live = ctx.rooms.userBySession(session);
  if (live !== undefined) {
    const away = ctx.away.get(live.userId);
    if (away === undefined) return { user: live, rooms: undefined };
    clearTimeout(away.timer);
    ctx.away.delete(live.userId);
    return { user: live, rooms: away.rooms };
  }
  // Sessions stored before this process started are good for one grace period after boot.
  const stored = ctx.history.loadSession(session);
  if (stored === undefined || Date.now() > ctx.bootTime + ctx.graceMs) return undefined;
  const user = ctx.rooms.createUser(session, stored.userId);
  if (ctx.rooms.rename(user, stored.name) !== "ok") ctx.log.info("resume_name_taken", { userId: user.userId });
  return { user, rooms: stored.rooms.filter((r) => normaliseRoom(r) === r) };
}

function requestedRoom(ctx: ChatContext, ws: ChatSocket): string {
  const asked = ws.data.requestedRoom;
  if (asked === undefined) return DEFAULT_ROOM;
  const room = normaliseRoom(asked);
  if (room !== undefined) return room;
  sendError(ws, { code: "bad_room", content: `'${asked.slice(0, 70)}' is not a valid room; joined #${DEFAULT_ROOM} instead` }, ctx.metrics);
  return DEFAULT_ROOM;
}

export function handleClose(ctx: ChatContext, ws: ChatSocket, code: number, reason: string): void {
  const data = ws.data;
  const user = data.user;
  ctx.metrics.connectionsClosed++;
  if (code === 1006 && reason === "Received too big message") ctx.metrics.oversizeCloses++;
  const last = user.connections.size === 1;
  // The last connection of a user is held open in its rooms for the grace period.
  const hold = last && ctx.graceMs > 0;
  for (const room of data.rooms) {
    // The socket is gone, so the server publishes: everyone left in the room hears it.
    if (ctx.rooms.leave(room, user.userId, ws, hold) && announces(ctx, room, 1)) {
      ctx.publish(roomTopic(room), encode(leaveNotice(room, user)));
    }
  }
  ctx.rooms.detach(user, ws);
  if (last) {
    if (hold) {
      const rooms = data.rooms;
      persistSession(ctx, user, rooms);
      ctx.away.set(user.userId, { rooms, timer: setTimeout(() => expire(ctx, user, rooms), ctx.graceMs) });
    } else {
      forgetUser(ctx, user);
    }
  }
  data.rooms = [];
  const fields = { conn: data.connId, userId: user.userId, code, reason: reason || undefined, cause: data.closing };
  if (data.closing === "slow_reader" || data.closing === "heartbeat") ctx.log.warn("disconnect", fields);
  else ctx.log.info("disconnect", fields);
}

/** The grace period ended without a reconnect: now the rooms hear that the user left. */
function expire(ctx: ChatContext, user: User, rooms: string[]): void {
  ctx.away.delete(user.userId);
  for (const room of rooms) {
    if (ctx.rooms.release(room, user.userId) && announces(ctx, room, 1)) {
      ctx.publish(roomTopic(room), encode(leaveNotice(room, user)));
    }
  }
  forgetUser(ctx, user);
}

function forgetUser(ctx: ChatContext, user: User): void {
  ctx.rooms.forget(user);
  ctx.history.deleteSession(user.session);
}
