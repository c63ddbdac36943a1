// This process's open sockets, for the heartbeat, /metrics and shutdown. An array with
// each socket's index kept in its own data: a Set of 5,000 sockets cost 105 bytes of
// heap per socket (bun:jsc heapStats), the array about 8.
export interface Slotted {
  data: { slot: number };
}

export class SocketList<S extends Slotted> {
  private items: S[] = [];

  get size(): number {
    return this.items.length;
  }

  add(socket: S): void {
    socket.data.slot = this.items.length;
    this.items.push(socket);
  }

  /** Removes the socket (the last one takes its place); a socket not in the list is ignored. */
  delete(socket: S): void {
    const at = socket.data.slot;
    if (this.items[at] !== socket) return;
    const last = this.items.pop()!;
    if (last !== socket) {
      this.items[at] = last;
      last.data.slot = at;
    }
    socket.data.slot = -1;
  }

  /** A copy to go through: closing a socket on the way removes it from the list. */
  snapshot(): S[] {
    return this.items.slice();
  }
}
