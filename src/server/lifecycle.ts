// Connecting, disconnecting and coming back. A user whose last connection drops is
// held for a grace period: still present in its rooms, name reserved, nothing
// announced. Reconnecting with its session secret within the grace period (even to a
// restarted server: sessions are stored) restores the same userId, name and rooms
// without join/leave noise; otherwise the leave is announced when the grace ends.
import { DEFAULT_HISTORY_LIMIT, DEFAULT_ROOM, encode, normaliseRoom, timestamp } from "../protocol.ts";
import { sendError, sendFrame, type ChatSocket } from "./connection.ts";
import type { ChatContext } from "./handlers.ts";
import { announces, changeName, enterRoom, leaveNotice, persistSession, sendHistory } from "./membership.ts";
import type { UserRecord } from "./rooms.ts";

type User = UserRecord<ChatSocket>;

export async function handleOpen(ctx: ChatContext, ws: ChatSocket): Promise<void> {
  const data = ws.data;
  ctx.metrics.connectionsOpened++;
  const resumed = data.authSub !== undefined
    ? await authenticated(ctx, data.authSub)
    : data.requestedSession === undefined ? undefined : await resume(ctx, data.requestedSession);
  const user = resumed?.user ?? (await ctx.rooms.createUser(ctx.newSession(), data.authSub));
  data.user = user;
  ctx.rooms.attach(user, ws);

  let rooms = resumed?.rooms;
  if (rooms === undefined || rooms.length === 0) {
    // A token's name is the user's name (checked like any other); without one, ?name= asks for one.
    const wanted = data.authName ?? data.requestedName;
    if (resumed === undefined && wanted !== undefined) await changeName(ctx, ws, wanted, undefined, false);
    rooms = [requestedRoom(ctx, ws)];
  }
  // On a cluster another node may resume this user at any moment: its session must be there.
  if (ctx.history.shared && !ctx.savedSessions.has(user.session)) persistSession(ctx, user, rooms);

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
  for (const room of rooms) await ctx.fanout.prepare(ws, room);
  // A resuming client asks for what it missed with join+since; a new one sees the recent
  // past, always as one frame (maybe empty), so a client knows when it has caught up.
  let seen = Number.MAX_SAFE_INTEGER;
  if (resumed === undefined) {
    const recent = await ctx.history.recent(rooms[0]!, DEFAULT_HISTORY_LIMIT);
    sendHistory(ctx, ws, rooms[0]!, recent, recent.length < DEFAULT_HISTORY_LIMIT);
    seen = recent.at(-1)?.id ?? 0;
  }
  // Coming back is not news: only a brand-new user is announced.
  for (const room of rooms) await enterRoom(ctx, ws, room, { announce: resumed === undefined, tellSelf: false, seen });
  if (resumed !== undefined) ctx.metrics.resumes++;
  ctx.log.info("connect", {
    conn: data.connId, remote: data.remote, userId: user.userId, name: user.name, rooms: rooms.join(","), resumed: resumed !== undefined || undefined,
  });
}

/** With authentication the token's subject is the user: another connection of a live (or away) one joins it. */
async function authenticated(ctx: ChatContext, sub: string): Promise<Resumed | undefined> {
  const live = await ctx.rooms.user(sub);
  return live === undefined ? undefined : resume(ctx, live.session);
}

interface Resumed {
  user: User;
  /** The rooms to restore; undefined when the user is live here (another tab). */
  rooms: string[] | undefined;
}

/** The user a session secret brings back: live here (another tab), away in its grace period, stored before a restart, or live on another node. */
async function resume(ctx: ChatContext, session: string): Promise<Resumed | undefined> {
  const live = ctx.rooms.userBySession(session);
  if (live !== undefined) {
    const away = ctx.away.get(live.userId);
    if (away === undefined) return { user: live, rooms: undefined };
    clearTimeout(away.timer);
    ctx.away.delete(live.userId);
    return { user: live, rooms: away.rooms };
  }
  const stored = await ctx.history.loadSession(session);
  if (stored === undefined) return undefined;
  // A local store keeps sessions until swept: those stored before this process started
  // are good for one grace period after boot. A shared store keeps only live ones.
  if (!ctx.history.shared && Date.now() > ctx.bootTime + ctx.graceMs) return undefined;
  const user = await ctx.rooms.createUser(session, stored.userId);
  if (user.name !== stored.name && (await ctx.rooms.rename(user, stored.name)) !== "ok") ctx.log.info("resume_name_taken", { userId: user.userId });
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

export async function handleClose(ctx: ChatContext, ws: ChatSocket, code: number, reason: string): Promise<void> {
  const data = ws.data;
  const user = data.user;
  const rooms = data.rooms;
  data.rooms = [];
  ctx.metrics.connectionsClosed++;
  if (code === 1006 && reason === "Received too big message") ctx.metrics.oversizeCloses++;
  const last = user.connections.size === 1;
  // The last connection of a user is held open in its rooms for the grace period.
  const hold = last && ctx.graceMs > 0;
  ctx.rooms.detach(user, ws);
  if (last && hold) {
    persistSession(ctx, user, rooms);
    ctx.away.set(user.userId, { rooms, timer: setTimeout(() => void expire(ctx, user, rooms), ctx.graceMs) });
  }
  const fields = { conn: data.connId, userId: user.userId, code, reason: reason || undefined, cause: data.closing };
  if (data.closing === "slow_reader" || data.closing === "heartbeat") ctx.log.warn("disconnect", fields);
  else ctx.log.info("disconnect", fields);
  for (const room of rooms) {
    ctx.fanout.unsubscribe(ws, room);
    // The socket is gone, so everyone left in the room hears it.
    if ((await ctx.rooms.leave(room, user.userId, ws, hold)) && (await announces(ctx, room, 1))) {
      ctx.fanout.toRoom(room, encode(leaveNotice(room, user)));
    }
  }
  if (last && !hold) await forgetUser(ctx, user);
}

/** The grace period ended without a reconnect: now the rooms hear that the user left. */
async function expire(ctx: ChatContext, user: User, rooms: string[]): Promise<void> {
  ctx.away.delete(user.userId);
  for (const room of rooms) {
    if ((await ctx.rooms.release(room, user.userId)) && (await announces(ctx, room, 1))) {
      ctx.fanout.toRoom(room, encode(leaveNotice(room, user)));
    }
  }
  // A connection may have come back while the rooms were being released.
  if (user.connections.size === 0) await forgetUser(ctx, user);
}

async function forgetUser(ctx: ChatContext, user: User): Promise<void> {
  // Only a user gone from every node loses its session; on a cluster another node may still have it.
  if (await ctx.rooms.forget(user)) await ctx.history.deleteSession(user.session);
}
