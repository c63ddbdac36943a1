// What the client knows about itself, kept in step with the frames the server sends:
// its identity, its rooms in join order (the last is current) and names seen so far.
import { NO_LIMITS, type InputLimits } from "./commands.ts";
import type { MessageFrame, ServerFrame } from "../protocol.ts";

/** The answer to a /history request: older messages of a room, and whether nothing older exists. */
export interface OlderPage {
  room: string;
  messages: MessageFrame[];
  complete: boolean;
}

export class ClientState {
  self: { userId: string; name: string } | undefined;
  rooms: string[] = [];
  /** Every name seen, for tab completion. */
  readonly names = new Set<string>();
  /** What the server takes in a message and in a frame (the welcome's limits). */
  limits: InputLimits = NO_LIMITS;
  /** Per room, the newest and oldest message ids shown: replays show only what is newer. */
  private readonly newest = new Map<string, number>();
  private readonly oldest = new Map<string, number>();
  /**
   * Rooms with a /history request outstanding: its answer may come in several history
   * frames (the server sends at most 200 messages in one), held until its ack.
   */
  private readonly older = new Map<string, { ref: string; before: number; held: MessageFrame[]; complete: boolean }>();
  /**
   * Rooms being re-joined after a reconnect. A resumed connection may get live
   * messages before the replay of what it missed; both are held back until the
   * re-join is answered, then shown merged in id order.
   */
  private readonly replaying = new Map<string, MessageFrame[]>();
  /**
   * Rooms where a re-join did not replay everything missed (more than a join replays):
   * /history pages down through that stretch first. `shown` is the range of ids shown
   * before the drop, which a page reaching into it does not show again.
   */
  private readonly holes = new Map<string, { shown: [oldest: number, newest: number] }>();

  get currentRoom(): string | undefined {
    return this.rooms.at(-1);
  }

  /**
   * The room to ask for in a connection's URL: the one we are in once there is one. A
   * reconnect whose old connection the server still holds (a network that died without
   * a word) is another connection of a live user, which starts where it asks, not where
   * the client had been; the re-joins bring back the other rooms.
   */
  roomToAsk(first: string | undefined): string | undefined {
    return this.currentRoom ?? first;
  }

  /** The id to resume a room from: the newest message shown there. */
  lastSeen(room: string): number {
    return this.newest.get(room) ?? 0;
  }

  /** Where paging back in a room starts: before the oldest message shown. */
  oldestSeen(room: string): number | undefined {
    return this.oldest.get(room);
  }

  /**
   * The page dropped a room's oldest lines: paging back starts before `oldestShown`,
   * or, with none of the room's messages left, before the newest seen.
   */
  dropOlderThan(room: string, oldestShown: number | undefined): void {
    const newest = this.newest.get(room);
    if (newest !== undefined) this.oldest.set(room, oldestShown ?? newest + 1);
  }

  /** A /history request for messages before `before` was sent with `ref`: what answers it is held until `endOlder`. */
  requestOlder(room: string, ref: string, before: number | undefined): void {
    this.older.set(room, { ref, before: before ?? Number.MAX_SAFE_INTEGER, held: [], complete: false });
  }

  /** Whether an older page of any room has been asked for and not yet come. */
  pagingBack(): boolean {
    return this.older.size > 0;
  }

  /**
   * The request sent with `ref` was answered (ack or error): the older messages it
   * brought, in id order, each once, and whether nothing older exists (`complete`);
   * undefined when `ref` was not a /history request.
   */
  endOlder(ref: string): OlderPage | undefined {
    for (const [room, page] of this.older) {
      if (page.ref !== ref) continue;
      this.older.delete(room);
      // A page asked for again after a reconnect may come twice: one message per id.
      const byId = new Map(page.held.filter((m) => m.id < page.before).map((m) => [m.id, m]));
      const messages = [...byId.values()].sort((a, b) => a.id - b.id);
      const first = messages[0];
      if (first !== undefined && first.id < (this.oldest.get(room) ?? Number.MAX_SAFE_INTEGER)) this.oldest.set(room, first.id);
      const hole = this.holes.get(room);
      if (hole === undefined) return { room, messages, complete: page.complete };
      // Paging down a stretch a re-join left out: what was shown before the drop is not shown again.
      const [shownOldest, shownNewest] = hole.shown;
      if (first === undefined || first.id <= shownNewest) {
        this.holes.delete(room);
        this.oldest.set(room, Math.min(first?.id ?? shownOldest, shownOldest));
      }
      return { room, messages: messages.filter((m) => m.id > shownNewest || m.id < shownOldest), complete: page.complete };
    }
    return undefined;
  }

  /** Makes a joined room the current one (the browser page's room tabs), as if joined last. */
  focus(room: string): boolean {
    if (!this.rooms.includes(room) || this.currentRoom === room) return false;
    this.rooms = [...this.rooms.filter((r) => r !== room), room];
    return true;
  }

  /**
   * The messages of a live or history frame that should be shown now: each message
   * once, however often a reconnect replays it. A re-join's replay is held until
   * `endReplay`, an older page asked for with /history until `endOlder`.
   */
  toShow(frame: ServerFrame): MessageFrame[] {
    if (frame.type !== "message" && frame.type !== "history") return [];
    // The re-join is sent before anything else on a new connection (a /history sent
    // again included), and the server answers in order: until its ack, history is its.
    const held = this.replaying.get(frame.room);
    if (held !== undefined) {
      if (frame.type === "message") held.push(frame);
      else held.push(...frame.messages);
      return [];
    }
    if (frame.type === "message") return this.isNew(frame) ? [frame] : [];
    const page = this.older.get(frame.room);
    if (page !== undefined) {
      page.held.push(...frame.messages);
      // The frame with the oldest messages says whether anything older exists.
      page.complete ||= frame.complete;
      return [];
    }
    return frame.messages.filter((m) => this.isNew(m));
  }

  /** Whether a message or history frame is held back now (a re-join's replay, a /history page): shown when its request is answered. */
  holds(frame: ServerFrame): boolean {
    if (frame.type !== "message" && frame.type !== "history") return false;
    return this.replaying.has(frame.room) || (frame.type === "history" && this.older.has(frame.room));
  }

  startReplay(room: string): void {
    this.replaying.set(room, []);
  }

  /**
   * Whether a frame is part of re-joining a room we were already in (after a reconnect):
   * our own join notice and the room's presence. Nothing happened that the reader
   * needs to see, and the room does not become the current one.
   */
  isRejoinNoise(frame: ServerFrame): boolean {
    if (frame.type === "presence") return this.replaying.has(frame.room);
    return frame.type === "system" && frame.event === "join" && frame.userId === this.self?.userId && this.replaying.has(frame.room);
  }

  /** The re-join was answered: what was held back, in id order, each message once. */
  endReplay(room: string): MessageFrame[] {
    const held = this.replaying.get(room) ?? [];
    this.replaying.delete(room);
    const shownBefore = this.newest.get(room);
    const oldestBefore = this.oldest.get(room);
    const fresh = held.sort((a, b) => a.id - b.id).filter((m) => this.isNew(m));
    // More was missed than a join replays (its newest 1,000): paging back with /history
    // starts at the replay, through the messages it left out.
    const first = fresh[0];
    if (shownBefore !== undefined && first !== undefined && first.id > shownBefore + 1) {
      this.oldest.set(room, first.id);
      this.holes.set(room, { shown: [oldestBefore ?? shownBefore, shownBefore] });
    }
    return fresh;
  }

  private isNew(message: MessageFrame): boolean {
    if (message.id <= (this.newest.get(message.room) ?? 0)) return false;
    this.newest.set(message.room, message.id);
    if (!this.oldest.has(message.room)) this.oldest.set(message.room, message.id);
    return true;
  }

  /** Applies a frame; true when identity or rooms changed (the prompt needs redrawing). */
  apply(frame: ServerFrame): boolean {
    if (frame.type === "message") this.names.add(frame.name);
    // People seen only in a room's past are people seen too (Tab completes their names).
    if (frame.type === "history") for (const message of frame.messages) this.names.add(message.name);
    if (frame.type === "presence") for (const user of frame.users) this.names.add(user.name);
    if (frame.type !== "system") return false;
    const selfId = this.self?.userId;
    switch (frame.event) {
      case "welcome": {
        // A resumed session keeps our order of its rooms (the current one last: the page's
        // tabs may have made another current than the server's last joined).
        const resumed = this.self?.userId === frame.userId;
        const kept = resumed ? this.rooms.filter((r) => frame.rooms.includes(r)) : [];
        this.self = { userId: frame.userId, name: frame.name };
        this.limits = { maxContentBytes: frame.limits.maxContentBytes, maxPayloadBytes: frame.limits.maxPayloadBytes };
        this.rooms = [...kept, ...frame.rooms.filter((r) => !kept.includes(r))];
        return true;
      }
      case "join":
        this.names.add(frame.name);
        if (frame.userId !== selfId) return false;
        // Re-joined after a reconnect: the rooms keep their order (the current one stays).
        if (this.replaying.has(frame.room) && this.rooms.includes(frame.room)) return false;
        this.rooms = [...this.rooms.filter((r) => r !== frame.room), frame.room];
        return true;
      case "leave":
        if (frame.userId !== selfId) return false;
        this.rooms = this.rooms.filter((r) => r !== frame.room);
        return true;
      case "nick":
        this.names.delete(frame.oldName);
        this.names.add(frame.name);
        if (frame.userId !== selfId) return false;
        this.self = { userId: frame.userId, name: frame.name };
        return true;
      default:
        return false;
    }
  }
}
