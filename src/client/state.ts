// What the client knows about itself, kept in step with the frames the server sends:
// its identity, its rooms in join order (the last is current) and names seen so far.
import type { MessageFrame, ServerFrame } from "../protocol.ts";

export class ClientState {
  self: { userId: string; name: string } | undefined;
  rooms: string[] = [];
  /** Every name seen, for tab completion. */
  readonly names = new Set<string>();
  /** Per room, the newest and oldest message ids shown: replays show only what is newer. */
  private readonly newest = new Map<string, number>();
  private readonly oldest = new Map<string, number>();
  /** Rooms with a /history request outstanding: their next history frame is older messages. */
  private readonly olderRequested = new Set<string>();
  /**
   * Rooms being re-joined after a reconnect. A resumed connection may get live
   * messages before the replay of what it missed; both are held back until the
   * re-join is answered, then shown merged in id order.
   */
  private readonly replaying = new Map<string, MessageFrame[]>();

  get currentRoom(): string | undefined {
    return this.rooms.at(-1);
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

  requestOlder(room: string): void {
    this.olderRequested.add(room);
  }

  /** Whether an older page of any room has been asked for and not yet come. */
  pagingBack(): boolean {
    return this.olderRequested.size > 0;
  }

  /** Whether the next history frame of a room is the older page asked for with `requestOlder`. */
  awaitingOlder(room: string): boolean {
    return this.olderRequested.has(room);
  }

  /** Makes a joined room the current one (the browser page's room tabs), as if joined last. */
  focus(room: string): boolean {
    if (!this.rooms.includes(room) || this.currentRoom === room) return false;
    this.rooms = [...this.rooms.filter((r) => r !== room), room];
    return true;
  }

  /**
   * The messages of a live or history frame that should be shown: each message once,
   * however often a reconnect replays it. Older pages asked for with /history are
   * shown as such.
   */
  toShow(frame: ServerFrame): MessageFrame[] {
    if (frame.type !== "message" && frame.type !== "history") return [];
    const held = this.replaying.get(frame.room);
    if (held !== undefined && !this.olderRequested.has(frame.room)) {
      if (frame.type === "message") held.push(frame);
      else held.push(...frame.messages);
      return [];
    }
    if (frame.type === "message") return this.isNew(frame) ? [frame] : [];
    if (this.olderRequested.delete(frame.room)) {
      const before = this.oldest.get(frame.room) ?? Number.MAX_SAFE_INTEGER;
      const older = frame.messages.filter((m) => m.id < before);
      if (older.length > 0) this.oldest.set(frame.room, older[0]!.id);
      return older;
    }
    return frame.messages.filter((m) => this.isNew(m));
  }

  startReplay(room: string): void {
    this.replaying.set(room, []);
  }

  /** The re-join was answered: what was held back, in id order, each message once. */
  endReplay(room: string): MessageFrame[] {
    const held = this.replaying.get(room) ?? [];
    this.replaying.delete(room);
    return held.sort((a, b) => a.id - b.id).filter((m) => this.isNew(m));
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
    if (frame.type === "presence") for (const user of frame.users) this.names.add(user.name);
    if (frame.type !== "system") return false;
    const selfId = this.self?.userId;
    switch (frame.event) {
      case "welcome":
        this.self = { userId: frame.userId, name: frame.name };
        this.rooms = [...frame.rooms];
        return true;
      case "join":
        this.names.add(frame.name);
        if (frame.userId !== selfId) return false;
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
