// What the client knows about itself, kept in step with the frames the server sends:
// its identity, its rooms in join order (the last is current) and names seen so far.
import type { ServerFrame } from "../protocol.ts";

export class ClientState {
  self: { userId: string; name: string } | undefined;
  rooms: string[] = [];
  /** Every name seen, for tab completion. */
  readonly names = new Set<string>();

  get currentRoom(): string | undefined {
    return this.rooms.at(-1);
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
