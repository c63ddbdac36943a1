// Who is in which room, and on which node. Clients are numbered 0..total-1 across
// every generator process; with rooms, client i sits in room floor(i / roomSize), so
// any process can work out any client's room and every room's size without asking.

export interface Layout {
  totalClients: number;
  /** Clients per room; 0 puts everyone in the server's default room (no ?room=). */
  roomSize: number;
}

export function roomOf(layout: Layout, client: number): number {
  return layout.roomSize > 0 ? Math.floor(client / layout.roomSize) : 0;
}

export function roomCount(layout: Layout): number {
  return layout.roomSize > 0 ? Math.ceil(layout.totalClients / layout.roomSize) : 1;
}

/** How many clients share room `room` (sender included), i.e. deliveries per message. */
export function roomMembers(layout: Layout, room: number): number {
  if (layout.roomSize === 0) return layout.totalClients;
  return Math.max(0, Math.min(layout.roomSize, layout.totalClients - room * layout.roomSize));
}

/**
 * Which of `nodes` server processes client `client` connects to: alternating, so the
 * clients are split evenly however they are sliced across generator processes, and
 * the open loop's round-robin sends alternate between nodes.
 */
export function nodeOf(client: number, nodes: number): number {
  return nodes > 1 ? client % nodes : 0;
}

/** The URL client `client` connects to: the base URL plus ?room= when rooms are in use. */
export function clientUrl(baseUrl: string, layout: Layout, client: number): string {
  if (layout.roomSize === 0) return baseUrl;
  const url = new URL(baseUrl);
  url.searchParams.set("room", `r${roomOf(layout, client)}`);
  return url.toString();
}

/** Splits clients 0..total-1 into `parts` contiguous slices as even as possible. */
export function splitClients(total: number, parts: number): Array<{ first: number; count: number }> {
  const slices: Array<{ first: number; count: number }> = [];
  let first = 0;
  for (let part = 0; part < parts; part++) {
    const count = Math.floor(total / parts) + (part < total % parts ? 1 : 0);
    slices.push({ first, count });
    first += count;
  }
  return slices;
}
