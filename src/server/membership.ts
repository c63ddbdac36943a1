// Rooms and names: joining (with history replay), leaving, presence, renaming, and
// paging back through history. A user with several connections counts once, so
// join/leave are announced for its first/last connection in a room. Registry, store
// and fan-out may answer later (on a cluster they ask Redis): the connection's frames
// are handled one after another (handlers.ts), so waiting here keeps their order.
// Handlers are steps (awaitable.ts): synchronous unless something really waits.
import {
  DEFAULT_HISTORY_LIMIT,
  encode,
  nameProblem,
  timestamp,
  type ClientFrame,
  type SystemFrame,
} from "../protocol.ts";
import { currentRoom, isClosing, sendError, sendFrame, sendText, withoutRoom, withRoom, type ChatSocket } from "./connection.ts";
import { wait, type Awaitable, type Steps } from "./awaitable.ts";
import type { ChatContext } from "./handlers.ts";
import type { StoredMessage } from "./history/store.ts";
import type { UserRecord } from "./rooms.ts";

type Frame<T extends ClientFrame["type"]> = Extract<ClientFrame, { type: T }>;

/** The most messages one join replays; older ones are reported in a `gap` frame. */
export const REPLAY_LIMIT = 1000;
/** Messages per history frame, so no single frame approaches a peer's buffer limits. */
const HISTORY_CHUNK = 200;

// ---------------------------------------------------------------- rooms

export function* onJoin(ctx: ChatContext, ws: ChatSocket, frame: Frame<"join">): Steps<void> {
  const { room, since } = frame;
  const rooms = ws.data.rooms;
  const already = rooms.includes(room);
  if (!already && rooms.length >= ctx.limits.maxRoomsPerConnection) {
    sendError(ws, { code: "bad_room", content: `you are in ${rooms.length} rooms, the most allowed; leave one first`, ref: frame.ref }, ctx.metrics);
    return;
  }
  // History first, then the live feed; the fan-out keeps what is published in between.
  if (!already) yield* wait(ctx.fanout.prepare(ws, room));
  let seen: number;
  try {
    seen = yield* sendJoinHistory(ctx, ws, room, since);
  } catch (error) {
    // Not joined after all (the client is told and may try again): stop keeping the room for it.
    if (!already) ctx.fanout.unsubscribe(ws, room);
    throw error;
  }
  // The history cut off a peer that does not read: its close has run already, and
  // released every room it was in. It must not be put in this one now.
  if (isClosing(ws)) {
    if (!already) ctx.fanout.unsubscribe(ws, room);
    return;
  }
  if (already) {
    // Already there: joining again only makes it the current room.
    ws.data.rooms = withRoom(ws.data.rooms, room);
    sendFrame(ws, joinNotice(room, ws.data.user), ctx.metrics);
  } else {
    yield* enterRoom(ctx, ws, room, { announce: true, tellSelf: true, seen });
  }
  roomsChanged(ctx, ws);
  sendFrame(ws, { type: "presence", room, users: yield* wait(ctx.rooms.presence(room)), timestamp: timestamp() }, ctx.metrics);
  ack(ctx, ws, frame.ref);
}

/**
 * Whether a room's newest messages (at most `limit`) are all it has: fewer than asked,
 * or starting at id 1 (ids have no holes). After pruning, a page of exactly what is
 * kept reads as incomplete; asking for more then answers an empty, complete page.
 */
export function isWholeHistory(recent: readonly { id: number }[], limit: number): boolean {
  return recent.length < limit || recent[0]!.id === 1;
}

/** The recent past of a room (or, with `since`, what came after it); answers the last id sent. */
function* sendJoinHistory(ctx: ChatContext, ws: ChatSocket, room: string, since: number | undefined): Steps<number> {
  if (since === undefined) {
    const recent = yield* wait(ctx.history.recent(room, DEFAULT_HISTORY_LIMIT));
    sendHistory(ctx, ws, room, recent, isWholeHistory(recent, DEFAULT_HISTORY_LIMIT));
    return recent.at(-1)?.id ?? 0;
  }
  const replay = yield* wait(ctx.history.after(room, since, REPLAY_LIMIT));
  ctx.metrics.replays++;
  if (replay.missed > 0) {
    ctx.metrics.gaps++;
    const { missed, pruned } = replay;
    sendFrame(ws, { type: "system", event: "gap", room, missed, pruned, content: gapText(room, missed, pruned), timestamp: timestamp() }, ctx.metrics);
  }
  sendHistory(ctx, ws, room, replay.messages, since === 0 && replay.missed === 0);
  return replay.messages.at(-1)?.id ?? since;
}

/** What a gap means to a reader: pruned messages are gone; the others (over the replay cap) are a `history` request away. */
function gapText(room: string, missed: number, pruned: number): string {
  const stored = missed - pruned;
  const gone = `${pruned} earlier message(s) in #${room} can no longer be shown`;
  const more = `${stored} earlier message(s) in #${room} were not replayed (a join replays the newest ${REPLAY_LIMIT}): /history shows them`;
  if (stored === 0) return gone;
  return pruned === 0 ? more : `${gone}; ${more.replace(` in #${room}`, "")}`;
}

/**
 * Subscribes a connection to a room (after `fanout.prepare`). `announce`: tell the
 * room if the user is new there; `tellSelf`: this connection gets the join notice
 * too; `seen`: the last message id it was sent (messages kept since prepare and
 * newer than that follow).
 */
export function* enterRoom(
  ctx: ChatContext, ws: ChatSocket, room: string, options: { announce: boolean; tellSelf: boolean; seen: number },
): Steps<void> {
  // Closed on the way here (a send found a peer that does not read): see onJoin.
  if (isClosing(ws)) return;
  if (!ws.data.rooms.includes(room)) ws.data.rooms = withRoom(ws.data.rooms, room);
  ctx.fanout.subscribe(ws, room, options.seen);
  const first = yield* wait(ctx.rooms.join(room, ws.data.user.userId, ws));
  if (first && options.announce && (yield* announces(ctx, room, 0))) {
    ctx.fanout.toRoom(room, encode(joinNotice(room, ws.data.user)), options.tellSelf ? undefined : ws);
  } else if (options.tellSelf) {
    // Already here through another connection, or a quiet big room: only this one is told.
    sendFrame(ws, joinNotice(room, ws.data.user), ctx.metrics);
  }
}

export function* onLeave(ctx: ChatContext, ws: ChatSocket, frame: Frame<"leave">): Steps<void> {
  if (!ws.data.rooms.includes(frame.room)) {
    sendError(ws, { code: "not_in_room", content: `you are not in #${frame.room}`, ref: frame.ref }, ctx.metrics);
    return;
  }
  ws.data.rooms = withoutRoom(ws.data.rooms, frame.room);
  ctx.fanout.unsubscribe(ws, frame.room);
  const notice = leaveNotice(frame.room, ws.data.user);
  if ((yield* wait(ctx.rooms.leave(frame.room, ws.data.user.userId, ws))) && (yield* announces(ctx, frame.room, 1))) {
    ctx.fanout.toRoom(frame.room, encode(notice));
  }
  sendFrame(ws, notice, ctx.metrics);
  roomsChanged(ctx, ws);
  ack(ctx, ws, frame.ref);
}

export function* onWho(ctx: ChatContext, ws: ChatSocket, frame: Frame<"who">): Steps<void> {
  const room = frame.room ?? currentRoom(ws);
  if (room === undefined) {
    sendError(ws, { code: "not_in_room", content: "you are not in any room; name one", ref: frame.ref }, ctx.metrics);
    return;
  }
  sendFrame(ws, { type: "presence", room, users: yield* wait(ctx.rooms.presence(room)), timestamp: timestamp() }, ctx.metrics);
  ack(ctx, ws, frame.ref);
}

export function* onHistory(ctx: ChatContext, ws: ChatSocket, frame: Frame<"history">): Steps<void> {
  const page = yield* wait(ctx.history.before(frame.room, frame.before ?? Number.MAX_SAFE_INTEGER, frame.limit ?? DEFAULT_HISTORY_LIMIT));
  sendHistory(ctx, ws, frame.room, page.messages, page.complete);
  ack(ctx, ws, frame.ref);
}

/**
 * Sends messages as `history` frames in id order, at most HISTORY_CHUNK per frame.
 * `complete` (nothing older exists) can only be true of the first frame; with
 * `undefined`, nothing is sent when there are no messages.
 */
export function sendHistory(ctx: ChatContext, ws: ChatSocket, room: string, messages: StoredMessage[], complete: boolean | undefined): void {
  if (messages.length === 0 && complete === undefined) return;
  const head = `{"type":"history","room":${JSON.stringify(room)},"messages":[`;
  for (let start = 0; start === 0 || start < messages.length; start += HISTORY_CHUNK) {
    // Spliced from the stored frames, which are already serialised (and carry no ref).
    const chunk = messages.slice(start, start + HISTORY_CHUNK).map((m) => m.json).join(",");
    const first = start === 0 && complete === true;
    sendText(ws, `${head}${chunk}],"complete":${first},"timestamp":"${timestamp()}"}`, ctx.metrics, "history");
  }
}

// ---------------------------------------------------------------- names

export function* onNick(ctx: ChatContext, ws: ChatSocket, frame: Frame<"nick">): Steps<void> {
  if (!(yield* changeName(ctx, ws, frame.name, frame.ref, true))) return;
  roomsChanged(ctx, ws);
  ack(ctx, ws, frame.ref);
}

/** Validates and claims a name, then (if `announce`) tells everyone who shares a room. False when refused. */
export function* changeName(ctx: ChatContext, ws: ChatSocket, name: string, ref: string | undefined, announce: boolean): Steps<boolean> {
  const user = ws.data.user;
  const problem = nameProblem(name);
  if (problem !== undefined) {
    sendError(ws, { code: "bad_name", content: `${problem}; you are still ${user.name}`, ref }, ctx.metrics);
    return false;
  }
  const oldName = user.name;
  if (name === oldName) return true;
  if ((yield* wait(ctx.rooms.rename(user, name))) === "taken") {
    sendError(ws, { code: "name_taken", content: `the name '${name}' is taken; you are still ${oldName}`, ref }, ctx.metrics);
    return false;
  }
  if (announce) yield* announceNick(ctx, user, oldName);
  return true;
}

/**
 * A user's new name, to everyone who shares a room with it and to its own
 * connections: once each, however many rooms they share.
 */
export function* announceNick(ctx: ChatContext, user: UserRecord<ChatSocket>, oldName: string): Steps<void> {
  const notice = encode({
    type: "system", event: "nick", userId: user.userId, name: user.name, oldName,
    content: `${oldName} is now known as ${user.name}`, timestamp: timestamp(),
  });
  yield* wait(ctx.fanout.toCompanions(user, notice));
}

// ---------------------------------------------------------------- helpers

/**
 * Join and leave notices go to everyone in the room, so in a room of N users each
 * arrival costs N frames and N arrivals cost N². Past the announce limit a room is
 * quiet about comings and goings (as large channels elsewhere are); `who` still
 * lists everyone. `gone` is 1 when the user in question has already been removed.
 */
export function* announces(ctx: ChatContext, room: string, gone: 0 | 1): Steps<boolean> {
  return announcedAt(ctx, (yield* wait(ctx.rooms.roomSize(room))) + gone);
}

/** Whether a room of `users` (counting the one coming or going) hears of comings and goings: see `announces`. */
export function announcedAt(ctx: ChatContext, users: number): boolean {
  return users <= ctx.limits.announceLimit;
}

/**
 * Stores a user's session, so the user can come back after a restart of this process (or
 * on another node). A shared store answers later, with the promise to wait for; it never
 * rejects: a failure is logged. `soon`: by the end of this turn, with the others saved
 * so (store.ts `saveSessionSoon`), for a closing connection.
 */
export function persistSession(ctx: ChatContext, user: UserRecord<ChatSocket>, rooms: readonly string[], soon = false): Awaitable<void> {
  const failed = (error: unknown) => ctx.log.error("session_store_failed", { message: String(error) });
  try {
    const session = { session: user.session, userId: user.userId, name: user.name, rooms: [...rooms], savedAt: Date.now() };
    const saved = soon && ctx.history.saveSessionSoon !== undefined ? ctx.history.saveSessionSoon(session) : ctx.history.saveSession(session);
    ctx.savedSessions.add(user.userId);
    if (saved instanceof Promise) return saved.catch(failed);
  } catch (error) {
    failed(error);
  }
}

/**
 * A user who joins, leaves or renames is stored as it is now, so that even a crash of
 * the server (kill -9) gives it back its id, name and rooms. One who only connected
 * and reads is stored when it disconnects or the server shuts down: storing every
 * connect would cost the accept rate. After a crash it comes back with a new id, its
 * client asking for its name and rooms again.
 */
function roomsChanged(ctx: ChatContext, ws: ChatSocket): void {
  persistSession(ctx, ws.data.user, ws.data.rooms);
}

export function joinNotice(room: string, user: UserRecord<ChatSocket>): SystemFrame {
  return { type: "system", event: "join", room, userId: user.userId, name: user.name, content: `${user.name} joined #${room}`, timestamp: timestamp() };
}

export function leaveNotice(room: string, user: UserRecord<ChatSocket>): SystemFrame {
  return { type: "system", event: "leave", room, userId: user.userId, name: user.name, content: `${user.name} left #${room}`, timestamp: timestamp() };
}

export function ack(ctx: ChatContext, ws: ChatSocket, ref: string | undefined, extra: { id?: number; room?: string } = {}): void {
  if (ref !== undefined) sendFrame(ws, { type: "ack", ref, ...extra, timestamp: timestamp() }, ctx.metrics);
}
