// The history store: every accepted room message, per-room ids that never go back,
// the refs that make resends idempotent, and the sessions that let a user come back
// after a restart. Three implementations (memory, SQLite, Redis for a cluster):
// callers see only this interface, and await what the Redis one answers later.
import type { MessageFrame } from "../../protocol.ts";
import type { Awaitable } from "../awaitable.ts";

export interface StoredMessage extends MessageFrame {
  /** The client's ref, kept so a resend after a lost ack is recognised. */
  ref?: string;
  /**
   * The message as everyone sees it (a `message` frame without the ref), serialised
   * once when it is stored: published, kept and replayed as this same text.
   */
  json: string;
  /**
   * Set by a store that checks refs itself while appending (Redis, where another node
   * may have stored the first copy): this ref was stored before, as this room and id.
   * Nothing was stored or published for it.
   */
  duplicate?: true;
}

/** A message accepted but not stored yet: the store gives it its id (and its json). */
export type DraftMessage = Omit<StoredMessage, "id" | "json">;

/**
 * The public frame of a stored message: the one serialisation of it, the same text
 * JSON.stringify gives for a MessageFrame, written out so no object is built per
 * message. Room names and timestamps need no escaping (their alphabets have no
 * quote or backslash); everything from users goes through JSON.stringify.
 */
export function publicJson(m: Omit<MessageFrame, "type">): string {
  return `{"type":"message","id":${m.id}${publicJsonTail(m)}`;
}

/** Everything after the id: what a store that assigns ids elsewhere (a Redis script) completes. */
export function publicJsonTail(m: Omit<MessageFrame, "type" | "id">): string {
  return `,"room":"${m.room}","userId":${JSON.stringify(m.userId)},"name":${JSON.stringify(m.name)},"content":${JSON.stringify(m.content)},"timestamp":"${m.timestamp}"}`;
}

/** A user's ref as one map key (a ref is only the same message for the same user). */
export function refKey(userId: string, ref: string): string {
  return `${userId}\u0000${ref}`;
}

export interface StoredSession {
  session: string;
  userId: string;
  name: string;
  rooms: string[];
  /** When it was saved (ms since the epoch): a session is resumable for a grace period after. */
  savedAt: number;
}

export interface Replay {
  messages: StoredMessage[];
  /** Messages after `since` that can no longer be replayed (pruned, or over the cap). */
  missed: number;
  /** Of those, the ones pruned: the rest are still stored (a `history` request reads them). */
  pruned: number;
}

export interface Page {
  messages: StoredMessage[];
  /** True when nothing older than the first message exists. */
  complete: boolean;
}

export interface HistoryStore {
  /**
   * True when other processes share the store (a cluster): sessions are then saved as
   * soon as they exist, so another node can resume them, and expire by themselves.
   * A store that is not shared answers every call at once, never with a promise.
   */
  readonly shared: boolean;
  /** The highest id ever given in a room (0 for a new room); survives restarts. */
  lastId(room: string): Awaitable<number>;
  /**
   * Gives each draft the next id of its room and stores the batch in one transaction,
   * in order. When it returns, they are committed: a crash after this loses none of
   * them. A distributed store answers with a promise.
   */
  append(drafts: DraftMessage[]): Awaitable<StoredMessage[]>;
  /** The newest `limit` messages of a room, in id order. */
  recent(room: string, limit: number): Awaitable<StoredMessage[]>;
  /** Messages with id > since, oldest first, at most `limit`; `missed` counts the rest that cannot be sent. */
  after(room: string, since: number, limit: number): Awaitable<Replay>;
  /** The newest `limit` messages with id < before, in id order. */
  before(room: string, before: number, limit: number): Awaitable<Page>;
  /**
   * The message a user already sent with this ref, if it is still kept. A store that
   * checks refs while appending (see `StoredMessage.duplicate`) answers undefined.
   */
  findRef(userId: string, ref: string): { room: string; id: number } | undefined;
  /** Saves a session (replacing the one with the same secret), stored when it returns or resolves. */
  saveSession(session: StoredSession): Awaitable<void>;
  /**
   * Saves a session by the end of this event-loop turn, with every other saved so in
   * the turn (SQLite: one transaction), for a closing connection, where nobody is told
   * anything that a crash before then would make untrue. Without it, `saveSession`.
   */
  saveSessionSoon?(session: StoredSession): void;
  loadSession(session: string): Awaitable<StoredSession | undefined>;
  deleteSession(session: string): Awaitable<void>;
  /** Forgets sessions saved before a time: those whose grace period ran out while no server watched. */
  deleteSessionsBefore(time: number): Awaitable<void>;
  close(): void;
}

/** A store in this process (memory, SQLite): every answer is immediate. */
export interface LocalHistoryStore extends HistoryStore {
  lastId(room: string): number;
  append(drafts: DraftMessage[]): StoredMessage[];
  recent(room: string, limit: number): StoredMessage[];
  after(room: string, since: number, limit: number): Replay;
  before(room: string, before: number, limit: number): Page;
  saveSession(session: StoredSession): void;
  loadSession(session: string): StoredSession | undefined;
  deleteSession(session: string): void;
  deleteSessionsBefore(time: number): void;
}

export interface HistoryOptions {
  /** Messages kept per room; older ones are pruned (their ids are never reused). @default 10000 */
  historyLimit: number;
  /** Told what a store repaired or gave up on while going on (logged at warn). */
  warn?: (event: string, fields: Record<string, string | number>) => void;
}
