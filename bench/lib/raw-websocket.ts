// A minimal WebSocket client over Bun.connect, for the generator only. The browser
// WebSocket makes a string and an event object per frame, which at a million
// deliveries a second makes the generator, not the server, the bottleneck. This one
// hands the pool raw bytes (often many frames per read) and answers pings; it skips
// what a load generator does not need: extensions, fragmentation, TLS, validation.
import type { Socket } from "bun";

export interface FrameSink {
  /** The server answered the upgrade with 101. */
  onOpen(): void;
  /** The payload of one data frame, as bytes [start, end) of `bytes`; valid only during the call. */
  onData(bytes: Buffer, start: number, end: number): void;
  /**
   * Called once, whether the socket opened or not; `code` is the status of the
   * server's close frame when it sent one.
   */
  onClose(reason: string, wasOpen: boolean, code?: number): void;
}

const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;
const HEADER_END = Buffer.from("\r\n\r\n");

type State = "handshake" | "open" | "closed";

const handlers = {
  open(socket: Socket<RawWebSocket>) {
    socket.data.onConnected(socket);
  },
  data(socket: Socket<RawWebSocket>, chunk: Buffer) {
    socket.data.onBytes(chunk);
  },
  drain(socket: Socket<RawWebSocket>) {
    socket.data.flush();
  },
  close(socket: Socket<RawWebSocket>, error?: Error) {
    socket.data.onClosed(error?.message ?? "closed by the server");
  },
  connectError(socket: Socket<RawWebSocket>, error: Error) {
    socket.data.onClosed(error.message);
  },
};

export class RawWebSocket {
  private socket: Socket<RawWebSocket> | undefined;
  private state: State = "handshake";
  /** Bytes of a frame (or of the upgrade response) that straddle reads. */
  private partial: Buffer | undefined;
  /** Bytes the kernel would not take yet; sent on drain, in order. */
  private readonly unsent: Buffer[] = [];
  /** Waiting for `unsent` to empty (or the socket to close). */
  private drainWaiters: Array<() => void> = [];
  /** Bytes the kernel has taken since the upgrade (frames, pongs; not the handshake). */
  bytesWritten = 0;

  private constructor(
    private readonly url: URL,
    private readonly sink: FrameSink,
  ) {}

  static connect(url: string, sink: FrameSink): RawWebSocket {
    const parsed = new URL(url);
    const ws = new RawWebSocket(parsed, sink);
    Bun.connect<RawWebSocket>({
      hostname: parsed.hostname,
      port: Number(parsed.port || 80),
      data: ws,
      socket: handlers,
    }).catch(() => {
      // connectError has already reported it.
    });
    return ws;
  }

  onConnected(socket: Socket<RawWebSocket>): void {
    this.socket = socket;
    if (this.state === "closed") {
      socket.terminate();
      return;
    }
    const target = `${this.url.pathname}${this.url.search}`;
    // The key is fixed: nothing here needs the accept hash checked.
    socket.write(
      `GET ${target} HTTP/1.1\r\nHost: ${this.url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
  }

  onBytes(chunk: Buffer): void {
    const bytes = this.partial === undefined ? chunk : Buffer.concat([this.partial, chunk]);
    this.partial = undefined;
    let offset = 0;
    if (this.state === "handshake") {
      const end = bytes.indexOf(HEADER_END);
      if (end < 0) {
        this.partial = Buffer.from(bytes);
        return;
      }
      const statusLine = bytes.toString("latin1", 0, bytes.indexOf("\r\n"));
      if (!statusLine.startsWith("HTTP/1.1 101")) {
        this.fail(`upgrade refused: ${statusLine}`);
        return;
      }
      this.state = "open";
      this.sink.onOpen();
      offset = end + HEADER_END.length;
    }
    offset = this.readFrames(bytes, offset);
    // The read buffer may be reused after this callback: keep a copy of the leftover.
    if (offset < bytes.length && this.state === "open") this.partial = Buffer.from(bytes.subarray(offset));
  }

  /** Parses whole frames from `offset`; returns where the first incomplete one starts. */
  private readFrames(bytes: Buffer, offset: number): number {
    while (this.state === "open" && bytes.length - offset >= 2) {
      const first = bytes[offset] ?? 0;
      const second = bytes[offset + 1] ?? 0;
      let length = second & 0x7f;
      let header = 2;
      if (length === 126) {
        if (bytes.length - offset < 4) break;
        length = bytes.readUInt16BE(offset + 2);
        header = 4;
      } else if (length === 127) {
        if (bytes.length - offset < 10) break;
        length = bytes.readUInt32BE(offset + 2) * 2 ** 32 + bytes.readUInt32BE(offset + 6);
        header = 10;
      }
      // Servers never mask; if one did, step over the key rather than lose framing.
      if (second & 0x80) header += 4;
      if (bytes.length - offset < header + length) break;
      const start = offset + header;
      const end = start + length;
      const opcode = first & 0x0f;
      if (opcode === OPCODE.text || opcode === OPCODE.binary || opcode === OPCODE.continuation) {
        this.sink.onData(bytes, start, end);
      } else if (opcode === OPCODE.ping) {
        this.writeFrame(OPCODE.pong, bytes.subarray(start, end));
      } else if (opcode === OPCODE.close) {
        const code = end - start >= 2 ? bytes.readUInt16BE(start) : undefined;
        const reason = end - start > 2 ? bytes.toString("utf8", start + 2, end) : "";
        this.fail(`closed by the server${code === undefined ? "" : ` with ${code}`}${reason ? ` (${reason})` : ""}`, code);
      }
      offset = end;
    }
    return offset;
  }

  sendText(text: string): void {
    if (this.state !== "open") return;
    this.writeFrame(OPCODE.text, text);
  }

  /**
   * Frames already encoded (see encodeTextFrames) handed to the socket as they are:
   * one write for many frames, for a sender that only wants to be fast.
   */
  sendBytes(frames: Buffer): void {
    if (this.state !== "open") return;
    this.write(frames);
  }

  /** Whether every byte given so far has been taken by the kernel. */
  get drained(): boolean {
    return this.unsent.length === 0;
  }

  /** Resolves once every byte given so far has been taken by the kernel, or the socket closed. */
  whenDrained(): Promise<void> {
    if (this.unsent.length === 0 || this.state === "closed") return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  get isOpen(): boolean {
    return this.state === "open";
  }

  /** `count` copies of one client text frame (masked with a zero key), back to back. */
  static encodeTextFrames(text: string, count: number): Buffer {
    const payload = Buffer.from(text);
    if (payload.length >= 126) throw new Error("encodeTextFrames is for payloads under 126 bytes");
    const one = Buffer.alloc(6 + payload.length);
    one[0] = 0x80 | OPCODE.text;
    one[1] = 0x80 | payload.length;
    payload.copy(one, 6);
    return Buffer.concat(Array.from({ length: count }, () => one));
  }

  private writeFrame(opcode: number, payload: string | Buffer): void {
    const length = typeof payload === "string" ? Buffer.byteLength(payload) : payload.length;
    const header = length < 126 ? 6 : length < 65536 ? 8 : 14;
    const frame = Buffer.allocUnsafe(header + length);
    frame[0] = 0x80 | opcode;
    if (length < 126) {
      frame[1] = 0x80 | length;
    } else if (length < 65536) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(length, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
      frame.writeUInt32BE(length >>> 0, 6);
    }
    // Clients must mask; an all-zero key is a valid key that leaves the payload as is.
    frame.writeUInt32BE(0, header - 4);
    if (typeof payload === "string") frame.write(payload, header);
    else frame.set(payload, header);
    this.write(frame);
  }

  private write(bytes: Buffer): void {
    if (this.unsent.length > 0) {
      this.unsent.push(bytes);
      return;
    }
    const written = this.socket?.write(bytes) ?? -1;
    if (written > 0) this.bytesWritten += written;
    if (written >= 0 && written < bytes.length) this.unsent.push(bytes.subarray(written));
  }

  flush(): void {
    while (this.unsent.length > 0 && this.socket !== undefined) {
      const next = this.unsent[0];
      if (next === undefined) break;
      const written = this.socket.write(next);
      if (written < 0) return;
      this.bytesWritten += written;
      if (written < next.length) {
        this.unsent[0] = next.subarray(written);
        return;
      }
      this.unsent.shift();
    }
    if (this.unsent.length === 0) this.wakeDrainWaiters();
  }

  onClosed(reason: string, code?: number): void {
    if (this.state === "closed") return;
    const wasOpen = this.state === "open";
    this.state = "closed";
    this.wakeDrainWaiters();
    this.sink.onClose(reason, wasOpen, code);
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }

  private fail(reason: string, code?: number): void {
    // Reported before terminate(), whose close callback would report a bare "closed" first.
    this.onClosed(reason, code);
    this.socket?.terminate();
  }

  /** Drops the connection at once; no close handshake, the benchmark is over. */
  close(): void {
    this.state = "closed";
    this.partial = undefined;
    this.wakeDrainWaiters();
    this.socket?.terminate();
  }
}
