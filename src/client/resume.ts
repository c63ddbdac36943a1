// What a client does after a reconnect, shared by the CLI and the browser page.
import type { ChatConnection } from "./connection.ts";
import type { ClientState } from "./state.ts";

/**
 * Re-joins every room the client was in, asking for what came after the last message
 * it showed (replayed messages are shown once: see ClientState.startReplay), then
 * sends again what the server never answered, with the same refs: the server acks a
 * repeated ref without storing it twice. `rejoins` gets each re-join's ref by room.
 */
export function rejoinAndResend(connection: ChatConnection, state: ClientState, rooms: string[], rejoins: Map<string, string>): void {
  const unanswered = new Set(connection.pending.keys());
  for (const room of rooms) {
    state.startReplay(room);
    rejoins.set(connection.send({ type: "join", room, since: state.lastSeen(room) }), room);
  }
  connection.resend(new Set([...connection.pending.keys()].filter((ref) => !unanswered.has(ref))));
}
