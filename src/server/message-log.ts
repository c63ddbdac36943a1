// The path of a room message after validation: collect → store (one transaction per
// event-loop turn: group commit) → publish → ack. A message anyone saw is therefore
// always in history with the id they saw, and a resent ref is acked, not doubled.
import { encode, timestamp, type ErrorCode, type MessageFrame } from "../protocol.ts";
import type { DraftMessage, HistoryStore, StoredMessage } from "./history/store.ts";

export interface Submitter {
  /** The sender was told: acked with the stored id, or refused. Not called when it had no ref. */
  ack(room: string, id: number): void;
  fail(code: ErrorCode, content: string): void;
}

export interface MessageLogOptions {
  store: HistoryStore;
  /** Publishes one serialised message frame to its room. */
  publish(room: string, text: string): void;
  /** Called when a batch could not be stored (logged by the caller). */
  onStoreError(error: unknown): void;
  /** Called after each stored batch, with its size and how long the store took. */
  onCommitted?(messages: number, seconds: number): void;
}

interface Pending {
  draft: DraftMessage;
  submitter: Submitter | undefined;
}

export class MessageLog {
  private batch: Pending[] = [];
  /** Refs in the current batch, with later senders of the same ref waiting for its id. */
  private inflight = new Map<string, Submitter[]>();
  private scheduled = false;

  constructor(private readonly options: MessageLogOptions) {}

  /** Accepts a message; it is stored and published at the end of this event-loop turn. */
  submit(room: string, userId: string, name: string, content: string, ref: string | undefined, submitter: Submitter | undefined): void {
    if (ref !== undefined) {
      const key = refKey(userId, ref);
      const waiting = this.inflight.get(key);
      if (waiting !== undefined) {
        // Same ref twice in one turn: one message, both told its id.
        if (submitter) waiting.push(submitter);
        return;
      }
      const stored = this.options.store.findRef(userId, ref);
      if (stored !== undefined) {
        submitter?.ack(stored.room, stored.id);
        return;
      }
    }
    const draft: DraftMessage = { type: "message", room, userId, name, content, timestamp: timestamp() };
    if (ref !== undefined) {
      draft.ref = ref;
      this.inflight.set(refKey(userId, ref), []);
    }
    this.batch.push({ draft, submitter });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  /** Stores the batch, then publishes and acks in order. Exposed for tests and shutdown. */
  async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.batch;
    const inflight = this.inflight;
    this.batch = [];
    this.inflight = new Map();
    if (batch.length === 0) return;

    let stored: StoredMessage[];
    const started = performance.now();
    try {
      stored = await this.options.store.append(batch.map((p) => p.draft));
      this.options.onCommitted?.(stored.length, (performance.now() - started) / 1000);
    } catch (error) {
      this.options.onStoreError(error);
      for (const pending of batch) pending.submitter?.fail("unavailable", "the message could not be stored; send it again");
      for (const waiters of inflight.values()) for (const w of waiters) w.fail("unavailable", "the message could not be stored; send it again");
      return;
    }
    for (let i = 0; i < stored.length; i++) {
      const message = stored[i]!;
      // The ref stays private to its sender: the published frame is built without it.
      const frame: MessageFrame = {
        type: "message", id: message.id, room: message.room, userId: message.userId,
        name: message.name, content: message.content, timestamp: message.timestamp,
      };
      this.options.publish(message.room, encode(frame));
      batch[i]!.submitter?.ack(message.room, message.id);
      if (message.ref !== undefined) {
        for (const waiter of inflight.get(refKey(message.userId, message.ref)) ?? []) waiter.ack(message.room, message.id);
      }
    }
  }
}

function refKey(userId: string, ref: string): string {
  return `${userId}\u0000${ref}`;
}
