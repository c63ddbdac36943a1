// Paging back through a room's history with /history, shared by the CLI and the
// browser page. The answer can be several history frames (the server sends at most
// 200 messages in one); ClientState holds them until the request's ack.
import type { ServerFrame } from "../protocol.ts";
import type { ChatConnection } from "./connection.ts";
import type { ClientState, OlderPage } from "./state.ts";

/** Asks for up to `limit` messages of `room` older than the oldest shown. */
export function askForOlder(connection: ChatConnection, state: ClientState, room: string, limit: number | undefined): void {
  const before = state.oldestSeen(room);
  const ref = connection.send({ type: "history", room, limit, ...(before === undefined ? {} : { before }) });
  state.requestOlder(room, ref, before);
}

/**
 * The older page a frame completes (messages in id order): when it answers a /history
 * request (its ack, or an error the connection will not retry). Undefined otherwise.
 */
export function olderAnswered(state: ClientState, frame: ServerFrame, retried: boolean): OlderPage | undefined {
  if (frame.type !== "ack" && (frame.type !== "error" || retried)) return undefined;
  return frame.ref === undefined ? undefined : state.endOlder(frame.ref);
}
