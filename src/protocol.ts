// Wire protocol v1: the one place that knows the shape of every frame.
// The server, the CLI client and the tests import these types and helpers, so a
// change to the contract (../shared/PROTOCOL.md) is a change to this file.

export const DEFAULT_ROOM = "lobby";

export const ERROR_CODES = [
  "bad_json",
  "bad_frame",
  "too_long",
  "rate_limited",
  "bad_name",
  "name_taken",
  "bad_room",
  "not_in_room",
  "no_such_user",
  "unauthorized",
  // Not in PROTOCOL.md v1: the server could not store the frame (its history store
  // failed); nothing was published, and the same ref may be sent again.
  "unavailable",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** WebSocket close codes the server uses (RFC 6455 §7.4 plus PROTOCOL.md). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  policy: 1008,
  tooBig: 1009,
  serverError: 1011,
  tryAgainLater: 1013,
} as const;

/**
 * An upgrade request with this header is checked like any other (token, origin,
 * limits) and answered 204 instead of upgraded: a client asks with it why its
 * connection failed without opening one (a user announced, then gone, for nothing).
 */
export const PROBE_HEADER = "x-chat-probe";

const MAX_REF_LENGTH = 64;
export const MAX_HISTORY_LIMIT = 500;
export const DEFAULT_HISTORY_LIMIT = 50;
const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,32}$/;
/** Names that start like a generated id (`User-XXXXX`) are reserved for ids. */
export const RESERVED_NAME_PREFIX = /^user-/i;
const ROOM_PATTERN = /^[a-z0-9_-]{1,64}$/;

// ---------------------------------------------------------------- client → server

export type ClientFrame =
  | { type: "message"; content: string; room?: string; ref?: string }
  | { type: "history"; room: string; before?: number; limit?: number; ref?: string }
  | { type: "join"; room: string; since?: number; ref?: string }
  | { type: "leave"; room: string; ref?: string }
  | { type: "nick"; name: string; ref?: string }
  | { type: "who"; room?: string; ref?: string }
  | { type: "direct"; to: string; content: string; ref?: string }
  | { type: "ping" };

/** The frames that may carry a `ref` and so are answered with `ack` or `error`. */
export type AckableFrame = Exclude<ClientFrame, { type: "ping" }>;

/** A frame the server could not accept, with the code and text of the `error` frame it earns. */
export interface FrameError {
  code: ErrorCode;
  content: string;
  ref?: string;
}

export type ParseResult = { ok: true; frame: ClientFrame } | { ok: false; error: FrameError };

export interface ParseLimits {
  /** Largest `content` accepted, in UTF-8 bytes. */
  maxContentBytes: number;
}

/**
 * Turns one text frame into a client frame or the error it earns. Never throws:
 * every input, however hostile, yields one or the other.
 */
export function parseClientFrame(text: string, limits: ParseLimits): ParseResult {
  if (!startsWithBrace(text)) {
    return messageFrame(text, undefined, undefined, limits);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return fail("bad_json", "frame starts with '{' but is not valid JSON");
  }
  if (!isRecord(raw)) return fail("bad_frame", "frame must be a JSON object");

  let ref: string | undefined;
  if (raw.ref !== undefined) {
    if (typeof raw.ref !== "string" || raw.ref.length === 0 || raw.ref.length > MAX_REF_LENGTH) {
      return fail("bad_frame", `'ref' must be a string of 1 to ${MAX_REF_LENGTH} characters`);
    }
    ref = raw.ref;
  }
  const type = raw.type;
  if (typeof type !== "string") return fail("bad_frame", "frame has no 'type' string", ref);

  switch (type) {
    case "message": {
      if (typeof raw.content !== "string") return fail("bad_frame", "'content' must be a string", ref);
      let room: string | undefined;
      if (raw.room !== undefined) {
        const normalised = optionalRoom(raw.room, ref);
        if (typeof normalised !== "string") return normalised!;
        room = normalised;
      }
      return messageFrame(raw.content, room, ref, limits);
    }
    case "join": {
      const room = requiredRoom(raw.room, ref);
      if (typeof room !== "string") return room;
      if (raw.since !== undefined && !(Number.isSafeInteger(raw.since) && (raw.since as number) >= 0)) {
        return fail("bad_frame", "'since' must be a whole number of 0 or more", ref);
      }
      return ok({ type: "join", room, ...(raw.since === undefined ? {} : { since: raw.since as number }) }, ref);
    }
    case "leave": {
      const room = requiredRoom(raw.room, ref);
      if (typeof room !== "string") return room;
      return ok({ type: "leave", room }, ref);
    }
    case "nick":
      if (typeof raw.name !== "string") return fail("bad_frame", "'name' must be a string", ref);
      return ok({ type: "nick", name: raw.name }, ref);
    case "who": {
      const room = optionalRoom(raw.room, ref);
      if (typeof room === "object") return room;
      return ok(room === undefined ? { type: "who" } : { type: "who", room }, ref);
    }
    case "direct": {
      if (typeof raw.to !== "string" || raw.to.length === 0) return fail("bad_frame", "'to' must be a name or userId", ref);
      if (typeof raw.content !== "string") return fail("bad_frame", "'content' must be a string", ref);
      const problem = contentProblem(raw.content, limits, ref);
      if (problem) return problem;
      return ok({ type: "direct", to: raw.to, content: raw.content }, ref);
    }
    case "history": {
      const room = requiredRoom(raw.room, ref);
      if (typeof room !== "string") return room;
      if (raw.before !== undefined && !(Number.isSafeInteger(raw.before) && (raw.before as number) >= 1)) {
        return fail("bad_frame", "'before' must be a message id (a whole number of 1 or more)", ref);
      }
      if (raw.limit !== undefined && !(Number.isSafeInteger(raw.limit) && (raw.limit as number) >= 1 && (raw.limit as number) <= MAX_HISTORY_LIMIT)) {
        return fail("bad_frame", `'limit' must be a whole number from 1 to ${MAX_HISTORY_LIMIT}`, ref);
      }
      const frame: ClientFrame = { type: "history", room };
      if (raw.before !== undefined) frame.before = raw.before as number;
      if (raw.limit !== undefined) frame.limit = raw.limit as number;
      return ok(frame, ref);
    }
    case "ping":
      return { ok: true, frame: { type: "ping" } };
    default:
      return fail("bad_frame", `unknown frame type '${truncate(type, 32)}'`, ref);
  }
}

function ok(frame: ClientFrame, ref: string | undefined): ParseResult {
  if (ref !== undefined && frame.type !== "ping") frame.ref = ref;
  return { ok: true, frame };
}

/** A room field: the normalised name, undefined when absent, or the error it earns. */
/** A room field: a mistyped one is a malformed frame (`bad_frame`), a string that is no room's name `bad_room`. */
function optionalRoom(value: unknown, ref: string | undefined): string | undefined | ParseResult {
  if (value === undefined) return undefined;
  if (typeof value !== "string") return fail("bad_frame", "'room' must be a string", ref);
  return normaliseRoom(value) ?? fail("bad_room", roomRules(value), ref);
}

function requiredRoom(value: unknown, ref: string | undefined): string | ParseResult {
  return optionalRoom(value, ref) ?? fail("bad_frame", "'room' is required", ref);
}

/** Same test as `text.trim() === ""`, without building the trimmed copy. */
const NOT_BLANK = /\S/;

function contentProblem(content: string, limits: ParseLimits, ref: string | undefined): ParseResult | undefined {
  if (!NOT_BLANK.test(content)) return fail("bad_frame", "message content is empty", ref);
  if (exceedsBytes(content, limits.maxContentBytes)) {
    return fail("too_long", `message content is over ${limits.maxContentBytes} bytes`, ref);
  }
  return undefined;
}

function messageFrame(
  content: string,
  room: string | undefined,
  ref: string | undefined,
  limits: ParseLimits,
): ParseResult {
  const problem = contentProblem(content, limits, ref);
  if (problem) return problem;
  const frame: ClientFrame = { type: "message", content };
  if (room !== undefined) frame.room = room;
  if (ref !== undefined) frame.ref = ref;
  return { ok: true, frame };
}

function fail(code: ErrorCode, content: string, ref?: string): ParseResult {
  return { ok: false, error: ref === undefined ? { code, content } : { code, content, ref } };
}

function startsWithBrace(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // space, tab, CR, LF: blanks before the first meaningful character
    if (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) continue;
    return c === 0x7b;
  }
  return false;
}

/** UTF-8 length check that skips the byte count when the string cannot be that long. */
export function exceedsBytes(text: string, maxBytes: number): boolean {
  if (text.length * 3 <= maxBytes) return false;
  if (text.length > maxBytes) return true;
  return Buffer.byteLength(text, "utf8") > maxBytes;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

// ---------------------------------------------------------------- names and rooms

/** Why a requested display name is refused, or undefined when it is acceptable. */
export function nameProblem(name: string): string | undefined {
  if (!NAME_PATTERN.test(name)) {
    return "names are 1-32 characters of letters, digits, '_', '-' and '.'";
  }
  if (RESERVED_NAME_PREFIX.test(name)) return "names starting with 'User-' are reserved";
  return undefined;
}

/** A room name with its optional leading '#' dropped, or undefined when it is not valid. */
export function normaliseRoom(input: string): string | undefined {
  const room = input.startsWith("#") ? input.slice(1) : input;
  return ROOM_PATTERN.test(room) ? room : undefined;
}

function roomRules(room: string): string {
  return `'${truncate(room, 70)}' is not a valid room: rooms are 1-64 characters of a-z, 0-9, '_' and '-'`;
}

// ---------------------------------------------------------------- server → client

interface Stamped {
  timestamp: string;
}

export interface MessageFrame extends Stamped {
  type: "message";
  id: number;
  room: string;
  userId: string;
  name: string;
  content: string;
}

export interface Limits {
  maxContentBytes: number;
  maxPayloadBytes: number;
  /** Rooms one connection may be in at once. */
  maxRoomsPerConnection: number;
  /** Frames per second a connection may send, sustained (0: no limit), and the burst allowed. */
  rate: number;
  burst: number;
}

export type SystemFrame = Stamped & { type: "system"; content: string } & (
    | { event: "welcome"; userId: string; name: string; rooms: readonly string[]; session: string; limits: Limits }
    | { event: "join" | "leave"; room: string; userId: string; name: string }
    | { event: "nick"; userId: string; name: string; oldName: string }
    | { event: "gap"; room: string; missed: number; pruned?: number }
    | { event: "shutdown" }
    | { event: "notice" }
  );

export interface PresenceUser {
  userId: string;
  name: string;
}

export interface PresenceFrame extends Stamped {
  type: "presence";
  room: string;
  users: PresenceUser[];
}

export interface DirectFrame extends Stamped {
  type: "direct";
  from: string;
  fromName: string;
  to: string;
  toName: string;
  content: string;
}

export interface HistoryFrame extends Stamped {
  type: "history";
  room: string;
  /** In id order. */
  messages: MessageFrame[];
  /** True when nothing older than the first message exists. */
  complete: boolean;
}

export interface AckFrame extends Stamped {
  type: "ack";
  ref: string;
  id?: number;
  room?: string;
}

export interface ErrorFrame extends Stamped {
  type: "error";
  code: ErrorCode;
  content: string;
  ref?: string;
}

export interface PongFrame extends Stamped {
  type: "pong";
}

export type ServerFrame =
  | MessageFrame
  | SystemFrame
  | PresenceFrame
  | DirectFrame
  | HistoryFrame
  | AckFrame
  | ErrorFrame
  | PongFrame;

let lastStampMs = -1;
let lastStamp = "";

/**
 * ISO 8601 UTC with milliseconds, as every server frame carries. Formatted once per
 * millisecond: a busy room stamps many frames within one.
 */
export function timestamp(now?: Date): string {
  if (now !== undefined) return now.toISOString();
  const ms = Date.now();
  if (ms !== lastStampMs) {
    lastStampMs = ms;
    lastStamp = new Date(ms).toISOString();
  }
  return lastStamp;
}

/** Serialises a server frame once; callers publish the string, never the object. */
export function encode(frame: ServerFrame): string {
  return JSON.stringify(frame);
}

export function errorFrame(error: FrameError): ErrorFrame {
  const frame: ErrorFrame = { type: "error", code: error.code, content: error.content, timestamp: timestamp() };
  if (error.ref !== undefined) frame.ref = error.ref;
  return frame;
}

/**
 * Reads a server frame on the client side. Only the envelope is checked: unknown
 * types pass through so an older client still shows a newer server's `content`.
 */
export function parseServerFrame(text: string): ServerFrame | undefined {
  try {
    const raw: unknown = JSON.parse(text);
    if (isRecord(raw) && typeof raw.type === "string") return raw as unknown as ServerFrame;
  } catch {
    // fall through: not a frame of ours
  }
  return undefined;
}
