// The client's WebSocket as an explicit state machine (connecting → connected →
// closed) with numbered refs for every message it sends, so callers can wait for
// the server's acks. Reconnection will grow here; the UI only sees the callbacks.
import { parseServerFrame, type AckableFrame, type ServerFrame } from "../protocol.ts";

export type ConnectionState = "connecting" | "connected" | "closed";

export interface ConnectionEvents {
  onOpen(): void;
  onFrame(frame: ServerFrame, raw: string): void;
  /** `wasOpen` is false when the connection never got established. */
  onClose(info: { code: number; reason: string; wasOpen: boolean; byUs: boolean }): void;
  onStateChange?(state: ConnectionState): void;
}

export interface ConnectionOptions {
  /** Give up on the opening handshake after this long. @default 10000 */
  connectTimeoutMs?: number;
}

export class ChatConnection {
  state: ConnectionState = "connecting";
  /** Refs sent and not yet answered by an `ack` or an `error`. */
  readonly pending = new Set<string>();
  private readonly socket: WebSocket;
  private nextRef = 1;
  private closingByUs = false;
  private readonly connectTimer: ReturnType<typeof setTimeout>;
  private readonly closed: Promise<void>;

  constructor(readonly url: string, private readonly events: ConnectionEvents, options: ConnectionOptions = {}) {
    this.socket = new WebSocket(url);
    let resolveClosed!: () => void;
    this.closed = new Promise((resolve) => (resolveClosed = resolve));
    this.connectTimer = setTimeout(() => {
      if (this.state === "connecting") this.socket.close();
    }, options.connectTimeoutMs ?? 10_000);

    this.socket.onopen = () => {
      clearTimeout(this.connectTimer);
      this.setState("connected");
      this.events.onOpen();
    };
    this.socket.onmessage = (event) => {
      if (typeof event.data !== "string") return;
      const frame = parseServerFrame(event.data);
      if (frame === undefined) return;
      if ((frame.type === "ack" || frame.type === "error") && frame.ref !== undefined) this.pending.delete(frame.ref);
      this.events.onFrame(frame, event.data);
    };
    this.socket.onclose = (event) => {
      clearTimeout(this.connectTimer);
      const wasOpen = this.state === "connected";
      this.setState("closed");
      this.events.onClose({ code: event.code, reason: event.reason, wasOpen, byUs: this.closingByUs });
      resolveClosed();
    };
    // Errors are always followed by a close event; the close handler reports them.
    this.socket.onerror = () => {};
  }

  /** Sends a frame with a fresh ref (the server answers it with `ack` or `error`). */
  send(frame: AckableFrame): string {
    const ref = `c${this.nextRef++}`;
    this.pending.add(ref);
    this.socket.send(JSON.stringify({ ...frame, ref }));
    return ref;
  }

  /** Closes with 1000 and waits for the close handshake, at most `timeoutMs`. */
  async close(timeoutMs = 1000): Promise<void> {
    if (this.state === "closed") return;
    this.closingByUs = true;
    this.socket.close(1000, "client quit");
    await Promise.race([this.closed, Bun.sleep(timeoutMs)]);
  }

  private setState(state: ConnectionState): void {
    if (state === this.state) return;
    this.state = state;
    this.events.onStateChange?.(state);
  }
}
