// Connecting, disconnecting and coming back. A user whose last connection drops is
// held for a grace period: still present in its rooms, name reserved, nothing
// announced. Reconnecting with its session secret within the grace period (even to a
// restarted server: sessions are stored) restores the same userId, name and rooms
// without join/leave noise; otherwise the leave is announced when the grace ends.
import { CloseCode, DEFAULT_HISTORY_LIMIT, DEFAULT_ROOM, encode, normaliseRoom, timestamp } from "../protocol.ts";
import { isClosing, NO_ROOMS, PENDING_USER, sendError, sendText, takeAsked, withRoom, type ChatSocket } from "./connection.ts";
import { drive, wait, type Awaitable, type Steps } from "./awaitable.ts";
import type { ChatContext } from "./handlers.ts";
import {
  announcedAt, announceNick, announces, changeName, enterRoom, isWholeHistory, joinNotice, leaveNotice, persistSession, sendHistory,
} from "./membership.ts";
import type { UserRecord } from "./rooms.ts";

type User = UserRecord<ChatSocket>;

/**
 * Opens a plain connection (no token, nothing asked in the query) on a node that is
 * the whole of its registry: what `handleOpen` does for it, as one synchronous
 * function. That is nearly every connection, and handleOpen's steps (generators,
 * compiled and run) cost it a tenth of the accept rate (bench idle, session 10).
 * False, having done nothing, when `handleOpen` must open it instead. The frames are
 * handleOpen's; test/e2e/connect-paths.test.ts checks them against the long way.
 */
export function openPlain(ctx: ChatContext, ws: ChatSocket): boolean {
  const local = ctx.alone;
  const data = ws.data;
  if (local === undefined || data.rare !== undefined) return false;
  ctx.metrics.connectionsOpened++;
  const user = local.createUser(undefined, undefined);
  data.user = user;
  local.attach(user, ws);
  const room = DEFAULT_ROOM;
  const rooms = withRoom(NO_ROOMS, room);
  sendText(ws, welcomeText(ctx, user, rooms, false), ctx.metrics, "system");
  if (isClosing(ws)) return true;
  // Read and subscribed in one turn: nothing can be published in between.
  const recent = atOnce(ctx.history.recent(room, DEFAULT_HISTORY_LIMIT));
  sendHistory(ctx, ws, room, recent, isWholeHistory(recent, DEFAULT_HISTORY_LIMIT));
  if (isClosing(ws)) return true;
  data.rooms = rooms;
  ctx.fanout.subscribe(ws, room, recent.at(-1)?.id ?? 0);
  if (local.join(room, user.userId, ws) && announcedAt(ctx, local.roomSize(room))) {
    ctx.fanout.toRoom(room, encode(joinNotice(room, user)), ws);
  }
  ctx.log.debug("connect", { conn: data.connId, remote: data.remote, userId: user.userId, name: user.name, rooms: room });
  return true;
}

/** A store that is not shared answers at once (store.ts `shared`). */
function atOnce<T>(value: Awaitable<T>): T {
  if (value instanceof Promise) throw new Error("a store that is not shared answered with a promise");
  return value;
}

/**
 * The welcome frame, serialised here so the limits are spliced in as they were
 * serialised once (ctx.welcomeLimitsJson), not again for every connection.
 */
function welcomeText(ctx: ChatContext, user: User, rooms: readonly string[], resumed: boolean): string {
  const content = resumed
    ? `Welcome back, ${user.name}! You are in ${rooms.map((r) => `#${r}`).join(", ")}.`
    : `Welcome, ${user.name}! You are in #${rooms[0]}.`;
  const json = JSON.stringify;
  return `{"type":"system","event":"welcome","content":${json(content)},"userId":${json(user.userId)},"name":${json(user.name)},` +
    `"rooms":${json(rooms)},"session":${json(user.session)},"limits":${ctx.welcomeLimitsJson},"timestamp":"${timestamp()}"}`;
}

export function* handleOpen(ctx: ChatContext, ws: ChatSocket): Steps<void> {
  const data = ws.data;
  ctx.metrics.connectionsOpened++;
  const asked = takeAsked(data);
  const auth = data.rare?.auth;
  const resumed = auth !== undefined
    ? (yield* authenticated(ctx, auth.sub, asked?.session))
    : asked?.session === undefined ? undefined : (yield* resume(ctx, asked.session));
  const user = resumed?.user ?? (yield* wait(ctx.rooms.createUser(undefined, auth?.sub)));
  data.user = user;
  ctx.rooms.attach(user, ws);
  // A token's subject is its user's name: nobody else may be called that while it is here.
  if (auth !== undefined) {
    const evicted = yield* wait(ctx.rooms.claimOwnName(user));
    if (evicted !== undefined) yield* announceNick(ctx, evicted.user, evicted.oldName);
  }

  // Rooms restored (a resume after a drop or a restart) come back quietly; a connection
  // of a user live here (another tab), or one that had left every room, starts in a room
  // like a new one: told its recent past, and announced there if the user is new to it.
  let rooms = resumed?.rooms;
  const restored = rooms !== undefined && rooms.length > 0;
  if (rooms === undefined || rooms.length === 0) {
    // A token's name is the user's name (checked like any other); without one, ?name= asks for one.
    const wanted = auth?.name ?? asked?.name;
    if (resumed === undefined && wanted !== undefined) yield* changeName(ctx, ws, wanted, undefined, false);
    rooms = [requestedRoom(ctx, ws, asked?.room)];
  }
  // On a cluster another node may resume this user at any moment: its session is
  // stored before the welcome, so a client that takes it to another node at once finds it.
  if (ctx.history.shared && !ctx.savedSessions.has(user.userId)) yield* wait(persistSession(ctx, user, rooms));

  sendText(ws, welcomeText(ctx, user, rooms, resumed !== undefined), ctx.metrics, "system");
  // Cut off by that send (a peer that does not read): its close has run; nothing more to set up.
  if (isClosing(ws)) return;
  for (const room of rooms) yield* wait(ctx.fanout.prepare(ws, room));
  // A resuming client asks for what it missed with join+since; any other sees the recent
  // past, always as one frame (maybe empty), so a client knows when it has caught up.
  let seen = Number.MAX_SAFE_INTEGER;
  if (!restored) {
    const recent = yield* wait(ctx.history.recent(rooms[0]!, DEFAULT_HISTORY_LIMIT));
    sendHistory(ctx, ws, rooms[0]!, recent, isWholeHistory(recent, DEFAULT_HISTORY_LIMIT));
    seen = recent.at(-1)?.id ?? 0;
  }
  // Coming back is not news; a user entering a room it was not in is (enterRoom announces only a user new to the room).
  for (const room of rooms) yield* enterRoom(ctx, ws, room, { announce: !restored, tellSelf: false, seen });
  if (resumed !== undefined) ctx.metrics.resumes++;
  // Debug, like Centrifugo's: at info a line per connection cost an eighth of the
  // accept rate and 0.6 KiB of memory per connection in the idle benchmark.
  ctx.log.debug("connect", {
    conn: data.connId, remote: data.remote, userId: user.userId, name: user.name, rooms: rooms.join(","), resumed: resumed !== undefined || undefined,
  });
}

/**
 * With authentication the token's subject is the user: another connection of a live (or
 * away) one joins it. After a restart there is none; a session of that same user (the
 * client sends its last one when it reconnects) brings back its rooms as for anyone.
 */
function* authenticated(ctx: ChatContext, sub: string, session: string | undefined): Steps<Resumed | undefined> {
  const live = yield* wait(ctx.rooms.user(sub));
  if (live !== undefined) return yield* resume(ctx, live.session);
  // A session is its user's id, a dot and a secret without dots: only the token's own
  // user's is taken (a prefix alone would let sub "bob" take "bob.x"'s).
  if (session === undefined || !session.startsWith(`${sub}.`) || session.lastIndexOf(".") !== sub.length) return undefined;
  const resumed = yield* resume(ctx, session);
  if (resumed === undefined || resumed.user.userId === sub) return resumed;
  // Not the token's user after all (a stored session of another): let it go again.
  if (resumed.user.connections.length === 0) yield* releaseQuietly(ctx, resumed.user);
  return undefined;
}

interface Resumed {
  user: User;
  /** The rooms to restore; undefined when the user is live here (another tab). */
  rooms: readonly string[] | undefined;
}

/** The user a session secret brings back: live here (another tab), away in its grace period, stored before a restart, or live on another node. */
function* resume(ctx: ChatContext, session: string): Steps<Resumed | undefined> {
  const live = ctx.rooms.userBySession(session);
  if (live !== undefined) {
    const away = ctx.away.get(live.userId);
    if (away === undefined) return { user: live, rooms: undefined };
    clearTimeout(away.timer);
    ctx.away.delete(live.userId);
    return { user: live, rooms: away.rooms };
  }
  const stored = yield* wait(ctx.history.loadSession(session));
  if (stored === undefined) return undefined;
  // A local store keeps sessions until swept: those stored before this process started
  // are good for one grace period after boot. A shared store keeps only live ones.
  if (!ctx.history.shared && Date.now() > ctx.bootTime + ctx.graceMs) return undefined;
  const user = yield* wait(ctx.rooms.createUser(session, stored.userId));
  try {
    if (user.name !== stored.name && (yield* wait(ctx.rooms.rename(user, stored.name))) !== "ok") ctx.log.info("resume_name_taken", { userId: user.userId });
  } catch (error) {
    // The connection's open fails and it never gets this user: release it, or its id
    // and name would stay taken with nobody to ever let them go.
    yield* releaseQuietly(ctx, user);
    throw error;
  }
  return { user, rooms: stored.rooms.filter((r) => normaliseRoom(r) === r) };
}

function* releaseQuietly(ctx: ChatContext, user: User): Steps<void> {
  try {
    yield* wait(ctx.rooms.forget(user));
  } catch {
    // The shared store is away: this node has let the user go; the store's own expiry does the rest.
  }
}

function requestedRoom(ctx: ChatContext, ws: ChatSocket, asked: string | undefined): string {
  if (asked === undefined) return DEFAULT_ROOM;
  const room = normaliseRoom(asked);
  if (room !== undefined) return room;
  sendError(ws, { code: "bad_room", content: `'${asked.slice(0, 70)}' is not a valid room; joined #${DEFAULT_ROOM} instead` }, ctx.metrics);
  return DEFAULT_ROOM;
}

export function* handleClose(ctx: ChatContext, ws: ChatSocket, code: number, reason: string): Steps<void> {
  const data = ws.data;
  const user = data.user;
  const rooms = data.rooms;
  const cause = data.closing;
  data.rooms = NO_ROOMS;
  // A handler this close interrupted (its own send cut the peer off) must not put the connection back anywhere.
  data.closing = "closed";
  ctx.metrics.connectionsClosed++;
  if (code === 1006 && reason === "Received too big message") ctx.metrics.oversizeCloses++;
  if (user === PENDING_USER) return;
  const last = user.connections.length === 1;
  // A goodbye: the client closed with 1000 (the CLI's exit, the page's "Leave the chat").
  const goodbye = code === CloseCode.normal && cause === undefined;
  const hold = last && ctx.graceMs > 0 && holdsAfter(ctx, user.userId, goodbye, cause);
  if (!last) ctx.departures.set(user.userId, { ...ctx.departures.get(user.userId), [goodbye ? "goodbyeAt" : "dropAt"]: Date.now() });
  else ctx.departures.delete(user.userId);
  ctx.fanout.disconnect(ws);
  ctx.rooms.detach(user, ws);
  if (last && hold) {
    persistSession(ctx, user, rooms, true);
    ctx.away.set(user.userId, { rooms, timer: setTimeout(() => endGrace(ctx, user, rooms), ctx.graceMs) });
  }
  const fields = { conn: data.connId, userId: user.userId, code, reason: reason || undefined, cause };
  if (cause === "slow_reader" || cause === "heartbeat") ctx.log.warn("disconnect", fields);
  else ctx.log.debug("disconnect", fields);
  for (const room of rooms) {
    // The socket is gone, so everyone left in the room hears it.
    if ((yield* wait(ctx.rooms.leave(room, user.userId, ws, hold))) && (yield* announces(ctx, room, 1))) {
      ctx.fanout.toRoom(room, encode(leaveNotice(room, user)));
    }
  }
  if (last && !hold) yield* forgetUser(ctx, user);
}

/**
 * Whether a user whose last connection closes now is held in its rooms for the grace
 * period. Drops are held (a closed or reloaded tab, 1001, and the server's own closes
 * too); a user who said goodbye is gone at once, name and all. Two exceptions, for a
 * user whose other connections closed before this one: a goodbye is held when another
 * connection dropped within the grace period (that client may be coming back), and a
 * connection the heartbeat found dead is not held when the user said goodbye since it
 * last answered (the client quit through its new connection, the old one was stale).
 */
function holdsAfter(ctx: ChatContext, userId: string, goodbye: boolean, cause: ChatSocket["data"]["closing"]): boolean {
  const before = ctx.departures.get(userId);
  const now = Date.now();
  if (goodbye) return before?.dropAt !== undefined && now - before.dropAt < ctx.graceMs;
  // The heartbeat closes a peer one to two intervals after it last answered; a third for timers running late.
  return !(cause === "heartbeat" && before?.goodbyeAt !== undefined && now - before.goodbyeAt < 3 * ctx.heartbeatMs);
}

function endGrace(ctx: ChatContext, user: User, rooms: readonly string[]): void {
  const failed = (error: unknown) => ctx.log.error("grace_end_failed", { userId: user.userId, message: String(error) });
  // One process runs every step at once, so a store that fails (SQLite: disk full, I/O
  // error) throws here, in a timer, where nothing else would catch it.
  try {
    const done = drive(expire(ctx, user, rooms));
    if (done instanceof Promise) done.catch(failed);
  } catch (error) {
    failed(error);
  }
}

/** The grace period ended without a reconnect: now the rooms hear that the user left. */
function* expire(ctx: ChatContext, user: User, rooms: readonly string[]): Steps<void> {
  ctx.away.delete(user.userId);
  for (const room of rooms) {
    if ((yield* wait(ctx.rooms.release(room, user.userId))) && (yield* announces(ctx, room, 1))) {
      ctx.fanout.toRoom(room, encode(leaveNotice(room, user)));
    }
  }
  // A connection may have come back while the rooms were being released.
  if (user.connections.length === 0) yield* forgetUser(ctx, user);
}

function* forgetUser(ctx: ChatContext, user: User): Steps<void> {
  ctx.savedSessions.delete(user.userId);
  ctx.departures.delete(user.userId);
  // Only a user gone from every node loses its session; on a cluster another node may still have it.
  if (yield* wait(ctx.rooms.forget(user))) yield* wait(ctx.history.deleteSession(user.session));
}
