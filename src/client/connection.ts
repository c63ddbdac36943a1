// The client's WebSocket as an explicit state machine (connecting → connected →
// reconnecting → connecting … → closed) with numbered refs for every frame it sends.
// Frames are kept until the server answers their ref, so after a reconnect the
// caller can send them again with the same refs: the server acks a repeated ref
// without storing it twice. Frames leave through one queue, in order, at the
// server's rate (from its welcome): a burst of resends after a reconnect would be
// refused in part, and a refused message sent again later lands after the ones
// behind it.
import { parseServerFrame, type AckableFrame, type ServerFrame } from "../protocol.ts";
import { TokenBucket } from "../rate-limit.ts";
import { backoffDelay, type BackoffOptions } from "./backoff.ts";

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "closed";

export interface CloseInfo {
  code: number;
  reason: string;
  /** False when no connection was ever established. */
  wasOpen: boolean;
  byUs: boolean;
}

export interface ConnectionEvents {
  /** `again` is true after a reconnect. */
  onOpen(again: boolean): void;
  onFrame(frame: ServerFrame, raw: string): void;
  /** The connection is gone for good: closed by us, or not reconnecting. */
  onClose(info: CloseInfo): void;
  /** A live connection dropped; the next attempt starts after `delayMs`. */
  onReconnecting?(info: { attempt: number; delayMs: number; code: number; reason: string }): void;
}

export interface ConnectionOptions {
  /** Reconnect when a live connection drops. @default true */
  reconnect?: boolean;
  /** Keep trying when the very first connection fails, too. @default false */
  retryInitial?: boolean;
  backoff?: BackoffOptions;
  /** Give up on one opening handshake after this long. @default 10000 */
  connectTimeoutMs?: number;
  /** Sent with every upgrade (Authorization: Bearer <token>). */
  token?: string | undefined;
  /** Accept an untrusted (self-signed) wss:// certificate. */
  insecure?: boolean;
  /** How long to wait before sending again a frame the server asked us to slow down on. @default 1000 */
  retryRefusedMs?: number;
}

/**
 * Bun's WebSocket constructor with its `headers` and `tls` options. The browser page's
 * typecheck (src/web/tsconfig.json) sees lib.dom's constructor, which has no such overload.
 */
type BunWebSocketConstructor = new (url: string, options: { headers?: Record<string, string>; tls?: { rejectUnauthorized: boolean } }) => WebSocket;

/** Refusals that mean "not now": the frame is kept and sent again after a pause. */
const RETRY_LATER = new Set(["rate_limited", "unavailable"]);

export class ChatConnection {
  state: ConnectionState = "connecting";
  /** Frames sent (or waiting to be) whose ref the server has not answered, in send order. */
  readonly pending = new Map<string, AckableFrame>();
  private socket: WebSocket | undefined;
  private nextRef = 1;
  /**
   * Starts every ref of this connection's life (its reconnects included). The server
   * takes a repeated ref from the same user as a resend and acks it without storing
   * it again, so refs must not repeat across a page reload, or between two tabs or
   * terminals of one user: each numbering starts with its own random prefix.
   */
  private readonly refPrefix = `c${Math.floor(Math.random() * 36 ** 6).toString(36).padStart(6, "0")}-`;
  private attempt = 0;
  private everOpen = false;
  private closingByUs = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Refs to send on this socket, in order (see `drain`). */
  private queue: string[] = [];
  /** The server's rate limit, a little under it so timing jitter does not trip it. */
  private pace: TokenBucket | undefined;
  /** Nothing leaves before this (Date.now()): the server asked us to slow down. */
  private holdUntil = 0;
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  private resolveClosed!: () => void;
  private readonly closed = new Promise<void>((resolve) => (this.resolveClosed = resolve));

  /** `url` is asked again before every attempt, so it can carry the latest session. */
  constructor(private readonly url: () => string, private readonly events: ConnectionEvents, private readonly options: ConnectionOptions = {}) {
    this.open();
  }

  private open(): void {
    this.state = "connecting";
    // `headers` and `tls` are Bun's extensions of the WebSocket constructor. A browser
    // reads a second argument as subprotocols and refuses an object, so none is passed
    // unless one of them is needed (the browser page never sets them).
    const bunOptions = {
      ...(this.options.token === undefined ? {} : { headers: { authorization: `Bearer ${this.options.token}` } }),
      ...(this.options.insecure ? { tls: { rejectUnauthorized: false } } : {}),
    };
    const socket = Object.keys(bunOptions).length === 0 ? new WebSocket(this.url()) : new (WebSocket as unknown as BunWebSocketConstructor)(this.url(), bunOptions);
    this.socket = socket;
    const timer = setTimeout(() => socket.readyState === WebSocket.CONNECTING && socket.close(), this.options.connectTimeoutMs ?? 10_000);
    let opened = false;
    socket.onopen = () => {
      clearTimeout(timer);
      opened = true;
      const again = this.everOpen;
      this.everOpen = true;
      this.state = "connected";
      this.events.onOpen(again);
    };
    socket.onmessage = (event) => {
      // Backoff starts over once the server has said something (its welcome): a server
      // that accepts the upgrade and closes at once (1013: try again later) is not a
      // success, and was retried every half second for ever.
      this.attempt = 0;
      if (typeof event.data !== "string") return;
      const frame = parseServerFrame(event.data);
      if (frame === undefined) return;
      if (frame.type === "error" && frame.ref !== undefined && RETRY_LATER.has(frame.code) && this.pending.has(frame.ref)) {
        this.retryLater(frame.ref);
      } else if ((frame.type === "ack" || frame.type === "error") && frame.ref !== undefined) {
        this.pending.delete(frame.ref);
      }
      this.events.onFrame(frame, event.data);
    };
    socket.onclose = (event) => {
      clearTimeout(timer);
      this.socket = undefined;
      // What was queued is still pending: the caller's resend() sends it on the next socket.
      this.queue = [];
      this.holdUntil = 0;
      clearTimeout(this.drainTimer);
      const canRetry = this.everOpen ? this.options.reconnect !== false : this.options.retryInitial === true;
      if (this.closingByUs || !canRetry) {
        this.state = "closed";
        this.events.onClose({ code: event.code, reason: event.reason, wasOpen: opened, byUs: this.closingByUs });
        this.resolveClosed();
        return;
      }
      this.attempt++;
      const delayMs = backoffDelay(this.attempt, this.options.backoff ?? { minMs: 500, maxMs: 20_000 });
      this.state = "reconnecting";
      this.events.onReconnecting?.({ attempt: this.attempt, delayMs, code: event.code, reason: event.reason });
      this.retryTimer = setTimeout(() => this.open(), delayMs);
    };
    // Errors are always followed by a close event; the close handler reports them.
    socket.onerror = () => {};
  }

  /** Sends a frame with a fresh ref (answered by `ack` or `error`); kept until then. */
  send(frame: AckableFrame): string {
    const ref = `${this.refPrefix}${this.nextRef++}`;
    this.pending.set(ref, frame);
    // Offline it waits in `pending` for the caller's resend() after the reconnect.
    if (this.state === "connected") {
      this.queue.push(ref);
      this.drain();
    }
    return ref;
  }

  /** Sends again, with their own refs and in their order, the frames still unanswered from before `except`. */
  resend(except: ReadonlySet<string> = new Set()): void {
    if (this.state !== "connected") return;
    const queued = new Set(this.queue);
    for (const ref of this.pending.keys()) if (!except.has(ref) && !queued.has(ref)) this.queue.push(ref);
    this.drain();
  }

  /** Sends no faster than `rate` frames a second, in bursts of `burst` (the welcome's limits); 0 for no limit. */
  setRateLimit(rate: number, burst: number): void {
    this.pace = rate > 0 ? new TokenBucket({ rate: rate * 0.9, burst: Math.max(1, burst - 2) }) : undefined;
  }

  /** Whether a frame is still waiting for its answer (a refused-for-now one is). */
  isPending(ref: string): boolean {
    return this.pending.has(ref);
  }

  /**
   * A refused-for-now frame is queued again after a pause, ahead of every queued frame
   * sent after it: frames refused in a row (a whole batch, while the server's store is
   * away) go again in their own order.
   */
  private retryLater(ref: string): void {
    if (!this.queue.includes(ref)) {
      // By rank in send order, in one pass: a piped file can have thousands pending.
      const rank = new Map<string, number>();
      for (const pending of this.pending.keys()) rank.set(pending, rank.size);
      const mine = rank.get(ref)!;
      const at = this.queue.findIndex((queued) => rank.get(queued)! > mine);
      this.queue.splice(at < 0 ? this.queue.length : at, 0, ref);
    }
    this.holdUntil = Date.now() + (this.options.retryRefusedMs ?? 1000);
    this.drain();
  }

  /** Sends what is queued, in order, as fast as the pace and any hold allow. */
  private drain(): void {
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    while (this.queue.length > 0 && this.state === "connected" && this.socket !== undefined) {
      const waitMs = Math.max(this.holdUntil - Date.now(), this.pace?.waitMs() ?? 0);
      if (waitMs > 0) {
        this.drainTimer = setTimeout(() => this.drain(), waitMs);
        return;
      }
      const ref = this.queue.shift()!;
      const frame = this.pending.get(ref);
      if (frame === undefined) continue; // answered meanwhile (a reply to an earlier copy)
      this.pace?.take();
      this.socket.send(JSON.stringify({ ...frame, ref }));
    }
  }

  /** Closes with 1000 and waits for the close handshake, at most `timeoutMs`. */
  async close(timeoutMs = 1000): Promise<void> {
    if (this.state === "closed") return;
    this.closingByUs = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.drainTimer);
    if (this.socket === undefined) {
      // Between attempts: no socket to close, but closed all the same, and said so.
      this.state = "closed";
      this.events.onClose({ code: 1000, reason: "client quit", wasOpen: this.everOpen, byUs: true });
      this.resolveClosed();
      return;
    }
    this.socket.close(1000, "client quit");
    await Promise.race([this.closed, new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
  }
}
