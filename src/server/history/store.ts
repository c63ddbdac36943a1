// The history store: every accepted room message, per-room ids that never go back,
// the refs that make resends idempotent, and the sessions that let a user come back
// after a restart. Two implementations (memory, SQLite) today, Redis later: callers
// see only this interface.
import type { MessageFrame } from "../../protocol.ts";

export interface StoredMessage extends MessageFrame {
  /** The client's ref, kept so a resend after a lost ack is recognised. */
  ref?: string;
  /**
   * The message as everyone sees it (a `message` frame without the ref), serialised
   * once when it is stored: published, kept and replayed as this same text.
   */
  json: string;
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
  return `{"type":"message","id":${m.id},"room":"${m.room}","userId":${JSON.stringify(m.userId)},"name":${JSON.stringify(m.name)},"content":${JSON.stringify(m.content)},"timestamp":"${m.timestamp}"}`;
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
}

export interface Page {
  messages: StoredMessage[];
  /** True when nothing older than the first message exists. */
  complete: boolean;
}

export interface HistoryStore {
  /** The highest id ever given in a room (0 for a new room); survives restarts. */
  lastId(room: string): number;
  /**
   * Gives each draft the next id of its room and stores the batch in one transaction,
   * in order. When it returns, they are committed: a crash after this loses none of
   * them. A distributed store may answer with a promise.
   */
  append(drafts: DraftMessage[]): StoredMessage[] | Promise<StoredMessage[]>;
  /** The newest `limit` messages of a room, in id order. */
  recent(room: string, limit: number): StoredMessage[];
  /** Messages with id > since, oldest first, at most `limit`; `missed` counts the rest that cannot be sent. */
  after(room: string, since: number, limit: number): Replay;
  /** The newest `limit` messages with id < before, in id order. */
  before(room: string, before: number, limit: number): Page;
  /** The message a user already sent with this ref, if it is still kept. */
  findRef(userId: string, ref: string): { room: string; id: number } | undefined;
  saveSession(session: StoredSession): void;
  loadSession(session: string): StoredSession | undefined;
  deleteSession(session: string): void;
  /** Forgets sessions saved before a time: those whose grace period ran out while no server watched. */
  deleteSessionsBefore(time: number): void;
  close(): void;
}

export interface HistoryOptions {
  /** Messages kept per room; older ones are pruned (their ids are never reused). @default 10000 */
  historyLimit: number;
}
