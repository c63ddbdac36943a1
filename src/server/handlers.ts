// What the server does with each client frame: parse, then one function per frame
// type, all sharing one context. Bun wiring lives in chat-server.ts; connecting and
// resuming in lifecycle.ts; rooms, names and history in membership.ts.
//
// A handler may have to wait (on a cluster, for Redis). A connection's frames, its
// opening and its closing are therefore handled strictly one after another
// (`serially`): a message sent right after a join is handled once the join is done.
// In one process nothing waits, and a room message is handled without a promise.
import { CloseCode, parseClientFrame, timestamp, type ClientFrame, type Limits } from "../protocol.ts";
import { currentRoom, rareOf, sendError, sendFrame, type ChatSocket } from "./connection.ts";
import type { HistoryStore } from "./history/store.ts";
import type { Logger } from "./log.ts";
import { drive, wait, type Steps } from "./awaitable.ts";
import type { Fanout } from "./fanout.ts";
import { ack, onHistory, onJoin, onLeave, onNick, onWho, persistSession } from "./membership.ts";
import type { MessageLog } from "./message-log.ts";
import { count, type Metrics } from "./metrics.ts";
import { RefusalCounter, TokenBucket } from "../rate-limit.ts";
import type { KeyMemory } from "./recent-keys.ts";
import type { LocalRoomRegistry, RoomRegistry } from "./rooms.ts";

export interface ChatContext {
  readonly limits: Limits & {
    backpressureLimit: number;
    /** Frames per second per connection (0: no limit) and the burst allowed. */
    rate: number;
    burst: number;
    /** Rooms with more users than this get no join/leave notices (each would go to everyone). */
    announceLimit: number;
  };
  /** The limits every `welcome` announces, serialised once. */
  readonly welcomeLimitsJson: string;
  /**
   * This node's registry when it is the whole registry and the store answers at once
   * (one process, SQLite or memory): a plain connection is then opened by one
   * synchronous function (lifecycle.ts `openPlain`). Undefined on a cluster.
   */
  readonly alone: LocalRoomRegistry<ChatSocket> | undefined;
  readonly rooms: RoomRegistry<ChatSocket>;
  /** Who gets a frame: this process's topics, or every node's through Redis. */
  readonly fanout: Fanout;
  readonly history: HistoryStore;
  readonly messages: MessageLog<ChatSocket>;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** How long a user whose last connection dropped stays present and resumable. */
  readonly graceMs: number;
  /** When this process started: sessions stored before it are resumable for one grace period. */
  readonly bootTime: number;
  /** Users in their grace period: the rooms to restore and the timer that ends it. */
  readonly away: Map<string, { rooms: readonly string[]; timer: ReturnType<typeof setTimeout> }>;
  /** How a live user's connections closed so far, for when its last one closes (lifecycle.ts `holdsAfter`). */
  readonly departures: Map<string, { goodbyeAt?: number; dropAt?: number }>;
  /** The heartbeat's interval: a peer that missed two pings is closed. */
  readonly heartbeatMs: number;
  /**
   * Users (by userId) whose session is written to the store, kept up to date as rooms
   * and names change. Not by session: a user's session string is built on each read.
   */
  readonly savedSessions: Set<string>;
  /**
   * Direct messages delivered, by sender and ref (never stored, so not found in history):
   * a resend after a lost ack is acked again, not delivered twice; on a cluster, on any node.
   */
  readonly directsSent: KeyMemory;
}

type Frame<T extends ClientFrame["type"]> = Extract<ClientFrame, { type: T }>;

/** Refusals within the window after which a flooding client is disconnected. */
const FLOOD_REFUSALS = 100;
const FLOOD_WINDOW_MS = 10_000;

/**
 * Runs `work` for a connection after everything already started for it has finished.
 * Work that finishes at once (all of it, in one process) leaves nothing behind. When
 * it fails (on a cluster: Redis is unreachable), `failed` tells the peer.
 */
export function serially(ctx: ChatContext, ws: ChatSocket, work: () => void | Promise<void>, failed: () => void): void {
  const fail = (error: unknown) => {
    ctx.log.error("handler_failed", { conn: ws.data.connId, message: String(error) });
    failed();
  };
  const before = ws.data.rare?.busy;
  let result: void | Promise<void>;
  try {
    result = before === undefined ? work() : before.then(work);
  } catch (error) {
    return fail(error);
  }
  if (!(result instanceof Promise)) return;
  const done: Promise<void> = result.then(() => {}, fail).finally(() => {
    const rare = ws.data.rare;
    if (rare?.busy === done) rare.busy = undefined;
  });
  rareOf(ws.data).busy = done;
}

export function handleMessage(ctx: ChatContext, ws: ChatSocket, message: string | Buffer): void {
  ws.data.alive = true;
  if (typeof message !== "string") {
    count(ctx.metrics.framesIn, "binary");
    if (withinRate(ctx, ws, undefined)) sendError(ws, { code: "bad_frame", content: "binary frames are not accepted; send text" }, ctx.metrics);
    return;
  }
  const parsed = parseClientFrame(message, ctx.limits);
  if (!parsed.ok) {
    count(ctx.metrics.framesIn, "invalid");
    if (!withinRate(ctx, ws, parsed.error.ref)) return;
    ctx.log.debug("bad_frame", { conn: ws.data.connId, code: parsed.error.code });
    sendError(ws, parsed.error, ctx.metrics);
    return;
  }
  const frame = parsed.frame;
  count(ctx.metrics.framesIn, frame.type);
  // Pings stay free, so a client's keep-alive never fails because it was chatty.
  if (frame.type !== "ping" && !withinRate(ctx, ws, frame.ref)) return;
  // The hot path, a room message with nothing pending for the connection: handled
  // at once (it never waits: the message log stores it later), with no closure.
  if (frame.type === "message" && ws.data.rare?.busy === undefined) return onChatMessage(ctx, ws, frame);
  serially(ctx, ws, () => dispatch(ctx, ws, frame), () =>
    // The client keeps the frame and sends it again (it retries `unavailable`).
    sendError(ws, { code: "unavailable", content: "the shared store is unreachable; try again", ref: "ref" in frame ? frame.ref : undefined }, ctx.metrics),
  );
}

/**
 * Takes a token from the connection's bucket. Over the limit the frame is refused
 * with `rate_limited` (nothing is stored); a client that keeps flooding after being
 * told (FLOOD_REFUSALS within FLOOD_WINDOW_MS) is closed with 1008.
 */
function withinRate(ctx: ChatContext, ws: ChatSocket, ref: string | undefined): boolean {
  const data = ws.data;
  if (ctx.limits.rate <= 0) return true;
  const rare = rareOf(data);
  rare.bucket ??= new TokenBucket({ rate: ctx.limits.rate, burst: ctx.limits.burst });
  if (rare.bucket.take()) return true;
  ctx.metrics.rateLimited++;
  rare.refusals ??= new RefusalCounter(FLOOD_REFUSALS, FLOOD_WINDOW_MS);
  if (rare.refusals.record() && data.closing === undefined) {
    data.closing = "flood";
    ctx.metrics.floodCloses++;
    ctx.log.warn("flood", { conn: data.connId, userId: data.user.userId, remote: data.remote });
    ws.close(CloseCode.policy, "flooding: too many frames over the rate limit");
    return false;
  }
  const { rate, burst } = ctx.limits;
  sendError(ws, { code: "rate_limited", content: `slow down: at most ${rate} frames per second, bursts of ${burst}`, ref }, ctx.metrics);
  return false;
}

function dispatch(ctx: ChatContext, ws: ChatSocket, frame: ClientFrame): void | Promise<void> {
  switch (frame.type) {
    case "message":
      return onChatMessage(ctx, ws, frame);
    case "join":
      return drive(onJoin(ctx, ws, frame));
    case "leave":
      return drive(onLeave(ctx, ws, frame));
    case "nick":
      return drive(onNick(ctx, ws, frame));
    case "who":
      return drive(onWho(ctx, ws, frame));
    case "history":
      return drive(onHistory(ctx, ws, frame));
    case "direct":
      return drive(onDirect(ctx, ws, frame));
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
  const ref = frame.ref;
  // A client that uses refs will resend after a lost ack, maybe to a restarted server:
  // its session must survive a crash so the resend is recognised as the same user's.
  if (ref !== undefined && !ctx.savedSessions.has(user.userId)) persistSession(ctx, user, ws.data.rooms);
  ctx.messages.submit(room, user.userId, user.name, frame.content, ref, ws);
}

function* onDirect(ctx: ChatContext, ws: ChatSocket, frame: Frame<"direct">): Steps<void> {
  const sender = ws.data.user;
  const sent = frame.ref === undefined ? undefined : `${sender.userId}\n${frame.ref}`;
  // Claimed now, not after delivery: a resend arriving while the user is looked up is a repeat too.
  if (sent !== undefined && !(yield* wait(ctx.directsSent.claim(sent)))) {
    ack(ctx, ws, frame.ref);
    return;
  }
  let recipient: Awaited<ReturnType<typeof ctx.rooms.findUser>>;
  let reachable = false;
  try {
    recipient = yield* wait(ctx.rooms.findUser(frame.to));
    // A user in its grace period (on every node) has a name but no connection to read it.
    if (recipient !== undefined) reachable = yield* wait(ctx.rooms.reachable(recipient));
  } catch (error) {
    if (sent !== undefined) yield* forgetDirect(ctx, sent); // not delivered: a resend must go through
    throw error;
  }
  if (recipient === undefined || !reachable) {
    if (sent !== undefined) yield* forgetDirect(ctx, sent); // refused: a resend may try again
    const who = frame.to.slice(0, 40);
    const content = recipient === undefined ? `nobody called '${who}' is connected` : `'${who}' is away (reconnecting); try again later`;
    sendError(ws, { code: "no_such_user", content, ref: frame.ref }, ctx.metrics);
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
  ctx.fanout.toUsers([recipient.userId, sender.userId], text);
  ack(ctx, ws, frame.ref);
}

function* forgetDirect(ctx: ChatContext, sent: string): Steps<void> {
  try {
    yield* wait(ctx.directsSent.release(sent));
  } catch {
    // The shared store is away: the key expires there by itself.
  }
}
