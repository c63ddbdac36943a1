// Per-connection state (Bun keeps it in `ws.data`) and the sends every handler uses.
import type { ServerWebSocket } from "bun";
import { encode, errorFrame, type FrameError, type ServerFrame } from "../protocol.ts";
import { count, type Metrics } from "./metrics.ts";
import type { RefusalCounter, TokenBucket } from "../rate-limit.ts";
import type { UserRecord } from "./rooms.ts";

export interface ConnectionData {
  readonly connId: number;
  /** Remote address, for logs and per-address limits. */
  readonly remote: string;
  /** The user this connection acts as; shared by all of that user's connections. */
  user: UserRecord<ChatSocket>;
  /**
   * Rooms this connection is in, in join order; the last is the current room. Replaced,
   * never changed in place (see `withRoom`), so connections can share one.
   */
  rooms: readonly string[];
  /** Cleared by each heartbeat, set by any frame or pong from the peer. */
  alive: boolean;
  /** Set once the socket is being torn down, so it is counted and logged once. */
  /** Why the server is closing the connection; "closed" once its close handler has run. */
  closing: "slow_reader" | "heartbeat" | "shutdown" | "flood" | "auth_expired" | "unavailable" | "closed" | undefined;
  /** Where the server's SocketList keeps it (-1 when not in it). */
  slot: number;
  /** What only some connections need, made when first needed (see `rareOf`). */
  rare: ConnectionRare | undefined;
}

// Every idle connection holds a ConnectionData, so it keeps to eight fields: Bun
// gives an object of eight fields 80 bytes and one of nine to twelve 112 to 160
// (bun:jsc heapStats). Whatever an idle connection does not need lives in `rare`.

/** State of a connection that has sent frames, asked for something at upgrade, or authenticated. */
export interface ConnectionRare {
  /**
   * What the upgrade's query asked for (?name=, ?room=, ?session=), validated when the
   * socket opens and then dropped; undefined without a query.
   */
  asked: Asked | undefined;
  /** With authentication: who the token says this is. */
  readonly auth: ConnectionAuth | undefined;
  /**
   * The rate limit, made at the first frame (a bucket made then is full, as one made at
   * connect would be by then, and an idle connection never needs one); undefined
   * while there was none or with no limit. Once it has refused something, the refusals.
   */
  bucket: TokenBucket | undefined;
  refusals: RefusalCounter | undefined;
  /** What is being handled for this connection, when it has to wait (see handlers.ts `serially`). */
  busy: Promise<void> | undefined;
}

/**
 * Stands in for the user between the upgrade and `open`, where the real one is
 * assigned, and stays when `open` fails before that (a cluster's store unreachable):
 * such a connection was never in the registry, so its close has nothing to undo.
 */
export const PENDING_USER: UserRecord<ChatSocket> = Object.freeze({ userId: "", name: "", session: "", connections: Object.freeze([]) });

export function rareOf(data: ConnectionData): ConnectionRare {
  return (data.rare ??= newRare(undefined, undefined));
}

export function newRare(asked: Asked | undefined, auth: ConnectionAuth | undefined): ConnectionRare {
  return { asked, auth, bucket: undefined, refusals: undefined, busy: undefined };
}

/** Takes what the upgrade asked for, dropping `rare` when nothing else is in it. */
export function takeAsked(data: ConnectionData): Asked | undefined {
  const rare = data.rare;
  if (rare === undefined) return undefined;
  const asked = rare.asked;
  rare.asked = undefined;
  if (rare.auth === undefined && rare.bucket === undefined && rare.refusals === undefined && rare.busy === undefined) data.rare = undefined;
  return asked;
}

export interface Asked {
  name: string | undefined;
  room: string | undefined;
  session: string | undefined;
}

export interface ConnectionAuth {
  /** The token's subject (the userId) and name. */
  readonly sub: string;
  readonly name: string | undefined;
  /** When the token expires (ms since the epoch): the connection is closed then. */
  readonly expiresAt: number | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export type ChatSocket = ServerWebSocket<ConnectionData>;

export const NO_ROOMS: readonly string[] = Object.freeze([]);

// Connections in one room, nearly all of them, share one frozen array per room: an
// array of one costs every idle connection 64 bytes of heap (bun:jsc heapStats). The
// cache is bounded; past that, a connection makes its own.
const ONE_ROOM_CACHE_SIZE = 4096;
const oneRoom = new Map<string, readonly string[]>();

function roomList(rooms: readonly string[]): readonly string[] {
  if (rooms.length !== 1) return rooms.length === 0 ? NO_ROOMS : Object.freeze(rooms);
  const room = rooms[0]!;
  let shared = oneRoom.get(room);
  if (shared === undefined) {
    shared = Object.freeze([room]);
    if (oneRoom.size < ONE_ROOM_CACHE_SIZE) oneRoom.set(room, shared);
  }
  return shared;
}

/** `rooms` with `room` as the last, current one (moved there when already in it). */
export function withRoom(rooms: readonly string[], room: string): readonly string[] {
  if (rooms[rooms.length - 1] === room) return rooms;
  return roomList([...rooms.filter((r) => r !== room), room]);
}

export function withoutRoom(rooms: readonly string[], room: string): readonly string[] {
  return rooms.includes(room) ? roomList(rooms.filter((r) => r !== room)) : rooms;
}

export function currentRoom(ws: ChatSocket): string | undefined {
  return ws.data.rooms[ws.data.rooms.length - 1];
}

export function roomTopic(room: string): string {
  return `room:${room}`;
}


/**
 * Sends a pre-serialised frame to one socket. Bun drops a send that would push the
 * socket past its backpressure limit (status 0): that peer is not reading, so it is
 * cut off rather than allowed to grow memory or silently miss frames.
 */
export function sendText(ws: ChatSocket, text: string, metrics: Metrics, type: ServerFrame["type"]): void {
  count(metrics.framesOut, type);
  metrics.deliveries++;
  metrics.bytesOut += text.length;
  if (ws.send(text) === 0 && ws.readyState === WebSocket.OPEN) dropSlowReader(ws, metrics);
}

export function sendFrame(ws: ChatSocket, frame: ServerFrame, metrics: Metrics): void {
  sendText(ws, encode(frame), metrics, frame.type);
}

export function sendError(ws: ChatSocket, error: FrameError, metrics: Metrics): void {
  metrics.errorsByCode[error.code] = (metrics.errorsByCode[error.code] ?? 0) + 1;
  sendFrame(ws, errorFrame(error), metrics);
}

/**
 * True once the connection is being closed, or its close has run: Bun runs the close
 * handler inside `terminate`, so a handler that sent something may find its own
 * connection gone when the send returns.
 */
export function isClosing(ws: ChatSocket): boolean {
  return ws.data.closing !== undefined;
}

export function dropSlowReader(ws: ChatSocket, metrics: Metrics): void {
  if (ws.data.closing !== undefined) return;
  ws.data.closing = "slow_reader";
  metrics.slowReaderCloses++;
  // terminate, not close: a close frame would queue behind the bytes it never reads.
  ws.terminate();
}
