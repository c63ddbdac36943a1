// The path of a room message after validation: collect → store (one transaction per
// event-loop turn: group commit) → publish → ack. A message anyone saw is therefore
// always in history with the id they saw, and a resent ref is acked, not doubled.
import { timestamp, type ErrorCode } from "../protocol.ts";
import { refKey, type DraftMessage, type HistoryStore, type StoredMessage } from "./history/store.ts";

/** How the sender of a message (of type S: a socket in the server) is told the outcome. */
export interface MessageLogOptions<S> {
  store: HistoryStore;
  /** Publishes one stored message frame to its room (a no-op where the store publishes as it stores). */
  publish(room: string, text: string): void;
  /** The message with this ref is stored as `id` (also for a repeated ref). */
  ack(sender: S, ref: string, room: string, id: number): void;
  /** The message could not be stored; nothing was published. */
  fail(sender: S, ref: string | undefined, code: ErrorCode, content: string): void;
  /** Called when a batch could not be stored (logged by the caller). */
  onStoreError(error: unknown): void;
  /** Called after each stored batch, with its size and how long the store took. */
  onCommitted?(messages: number, seconds: number): void;
}

interface Sender<S> {
  sender: S;
  ref: string | undefined;
}

export class MessageLog<S> {
  private drafts: DraftMessage[] = [];
  private senders: Sender<S>[] = [];
  /** Refs in the current batch, with later senders of the same ref waiting for its id. */
  private inflight = new Map<string, Sender<S>[]>();
  /** The same for the batch being stored: its refs are not in the store until it is. */
  private storingRefs = new Map<string, Sender<S>[]>();
  private scheduled = false;
  /** The batch being stored, if any. */
  private storing: Promise<void> | undefined;

  constructor(private readonly options: MessageLogOptions<S>) {}

  /** Accepts a message; it is stored and published at the end of this event-loop turn. */
  submit(room: string, userId: string, name: string, content: string, ref: string | undefined, sender: S): void {
    if (ref !== undefined) {
      const key = refKey(userId, ref);
      const waiting = this.inflight.get(key) ?? this.storingRefs.get(key);
      if (waiting !== undefined) {
        // Same ref again in this turn, or while its batch is being stored: one message, both told its id.
        waiting.push({ sender, ref });
        return;
      }
      const stored = this.options.store.findRef(userId, ref);
      if (stored !== undefined) {
        this.options.ack(sender, ref, stored.room, stored.id);
        return;
      }
      this.inflight.set(key, []);
    }
    const draft: DraftMessage = { type: "message", room, userId, name, content, timestamp: timestamp() };
    if (ref !== undefined) draft.ref = ref;
    this.drafts.push(draft);
    this.senders.push({ sender, ref });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  /**
   * Stores the batch, then publishes and acks in order. Exposed for tests and shutdown.
   * A batch is stored only after the one before it: with a store that answers later
   * (Redis), two batches in flight could otherwise be given ids in the wrong order.
   */
  flush(): Promise<void> {
    const after = this.storing;
    const done: Promise<void> = (after === undefined ? this.store() : after.then(() => this.store())).finally(() => {
      if (this.storing === done) this.storing = undefined;
    });
    this.storing = done;
    return done;
  }

  private async store(): Promise<void> {
    this.scheduled = false;
    const { drafts, senders, inflight } = this;
    this.drafts = [];
    this.senders = [];
    this.inflight = new Map();
    if (drafts.length === 0) return;
    this.storingRefs = inflight;

    let stored: StoredMessage[];
    const started = performance.now();
    try {
      stored = await this.options.store.append(drafts);
      this.options.onCommitted?.(stored.length, (performance.now() - started) / 1000);
    } catch (error) {
      this.storingRefs = new Map();
      this.options.onStoreError(error);
      const refused = [...senders, ...[...inflight.values()].flat()];
      for (const { sender, ref } of refused) this.options.fail(sender, ref, "unavailable", "the message could not be stored; send it again");
      return;
    }
    this.storingRefs = new Map();
    for (let i = 0; i < stored.length; i++) {
      const message = stored[i]!;
      // Serialised once, by the store, without the ref (which stays private to its sender).
      // A duplicate found by the store was published with its first copy.
      if (message.duplicate === undefined) this.options.publish(message.room, message.json);
      const { sender, ref } = senders[i]!;
      if (ref === undefined) continue;
      this.options.ack(sender, ref, message.room, message.id);
      for (const waiter of inflight.get(refKey(message.userId, ref)) ?? []) this.options.ack(waiter.sender, ref, message.room, message.id);
    }
  }
}
