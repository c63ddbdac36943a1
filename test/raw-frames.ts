// Hand-built WebSocket frames over `node:net`, for conformance tests that a real
// client library would refuse to send: unmasked frames, reserved bits, bad opcodes,
// broken close frames, fragments in the wrong order, a half-sent upgrade. The
// Autobahn suite cannot run here; this is the small subset of it we need.
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";

export const Opcode = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** What goes into one client frame. Everything a well-behaved client would fix is a knob. */
export interface FrameSpec {
  opcode: number;
  payload?: Uint8Array | string;
  /** @default true */
  fin?: boolean;
  /** RSV1..RSV3 as a 3-bit number: 0b100 = RSV1, 0b010 = RSV2, 0b001 = RSV3. @default 0 */
  rsv?: number;
  /** Clients must mask; false sends the payload in the clear. @default true */
  mask?: boolean;
  /** @default 4 random bytes */
  maskKey?: Uint8Array;
  /** Force a length encoding (the RFC wants the shortest; a test may want another). @default the shortest */
  lengthBits?: 7 | 16 | 64;
}

const toBytes = (payload: Uint8Array | string | undefined): Uint8Array =>
  payload === undefined ? new Uint8Array(0) : typeof payload === "string" ? new TextEncoder().encode(payload) : payload;

/** Encodes one client → server frame exactly as specified. */
export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = toBytes(spec.payload);
  const fin = spec.fin ?? true;
  const rsv = spec.rsv ?? 0;
  const mask = spec.mask ?? true;
  const length = payload.length;
  const lengthBits = spec.lengthBits ?? (length < 126 ? 7 : length < 0x10000 ? 16 : 64);
  if (lengthBits === 7 && length > 125) throw new Error(`a 7-bit length cannot hold ${length}`);
  if (lengthBits === 16 && length > 0xffff) throw new Error(`a 16-bit length cannot hold ${length}`);

  const header: number[] = [((fin ? 1 : 0) << 7) | ((rsv & 0b111) << 4) | (spec.opcode & 0x0f)];
  const maskBit = mask ? 0x80 : 0;
  if (lengthBits === 7) header.push(maskBit | length);
  else if (lengthBits === 16) header.push(maskBit | 126, (length >> 8) & 0xff, length & 0xff);
  else {
    header.push(maskBit | 127);
    const big = Buffer.alloc(8);
    big.writeBigUInt64BE(BigInt(length));
    header.push(...big);
  }
  if (!mask) return Buffer.concat([Buffer.from(header), payload]);

  const key = spec.maskKey ?? randomBytes(4);
  if (key.length !== 4) throw new Error("a mask key is 4 bytes");
  const masked = Buffer.alloc(length);
  for (let i = 0; i < length; i++) masked[i] = payload[i]! ^ key[i % 4]!;
  return Buffer.concat([Buffer.from(header), key, masked]);
}

/** A close frame payload: the status code, then the UTF-8 reason. */
export function closePayload(code: number, reason = ""): Buffer {
  const body = Buffer.alloc(2);
  body.writeUInt16BE(code);
  return Buffer.concat([body, Buffer.from(reason, "utf8")]);
}

/** One server → client frame as it came off the wire. */
export interface RawFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/**
 * Decodes as many complete frames as `buffer` holds; returns them and the bytes left
 * over (a partial frame). Server frames should be unmasked; a mask is honoured anyway.
 */
export function decodeFrames(buffer: Buffer): { frames: RawFrame[]; rest: Buffer } {
  const frames: RawFrame[] = [];
  let offset = 0;
  for (;;) {
    if (buffer.length - offset < 2) break;
    const b0 = buffer[offset]!;
    const b1 = buffer[offset + 1]!;
    const masked = (b1 & 0x80) !== 0;
    let length = b1 & 0x7f;
    let at = offset + 2;
    if (length === 126) {
      if (buffer.length < at + 2) break;
      length = buffer.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      if (buffer.length < at + 8) break;
      length = Number(buffer.readBigUInt64BE(at));
      at += 8;
    }
    const keyAt = at;
    if (masked) at += 4;
    if (buffer.length < at + length) break;
    let payload = Buffer.from(buffer.subarray(at, at + length));
    if (masked) {
      const key = buffer.subarray(keyAt, keyAt + 4);
      payload = Buffer.from(payload.map((byte, i) => byte ^ key[i % 4]!));
    }
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 0b111, opcode: b0 & 0x0f, masked, payload });
    offset = at + length;
  }
  return { frames, rest: buffer.subarray(offset) };
}

/** How a connection ended, from the client's side. */
export interface CloseOutcome {
  /**
   * The status code in the server's close frame; 1005 for a close frame without one
   * and 1006 when the TCP connection ended without any close frame (RFC 6455 §7.1.5).
   */
  code: number;
  reason: string;
  /** Whether a close frame arrived at all. */
  closeFrame: boolean;
  /** Whether the TCP connection had ended by the time this was decided. */
  tcpClosed: boolean;
  /** Milliseconds from the call to `expectClose` until the outcome was known. */
  afterMs: number;
}

const peers = new Set<RawPeer>();

/** Destroys every raw socket this module opened. Call in afterAll/afterEach. */
export function closeRawPeers(): void {
  for (const peer of peers) peer.destroy();
  peers.clear();
}

/** A TCP connection that speaks WebSocket frames by hand after an upgrade done by hand. */
export class RawPeer {
  readonly frames: RawFrame[] = [];
  /** Resolves when the TCP connection has closed (either side). */
  readonly tcpClosed: Promise<void>;
  isTcpClosed = false;
  /** When true, every ping is answered with a pong carrying the same payload, as a live client would. */
  answerPings = false;
  private buffer: Buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];

  constructor(readonly socket: net.Socket, leftover: Buffer) {
    peers.add(this);
    this.tcpClosed = new Promise((resolve) => {
      const done = () => {
        this.isTcpClosed = true;
        resolve();
        this.wake();
      };
      if (socket.destroyed) return done();
      socket.once("close", done);
    });
    socket.on("error", () => {}); // an RST after a protocol error is an expected ending
    socket.on("end", () => socket.end());
    socket.on("data", (chunk: Buffer) => this.feed(chunk));
    if (leftover.length > 0) this.feed(leftover);
  }

  private feed(chunk: Buffer): void {
    const { frames, rest } = decodeFrames(Buffer.concat([this.buffer, chunk]));
    this.buffer = rest;
    this.frames.push(...frames);
    if (this.answerPings) {
      for (const frame of frames) if (frame.opcode === Opcode.ping) this.send({ opcode: Opcode.pong, payload: frame.payload });
    }
    if (frames.length > 0) this.wake();
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** Writes one frame (a spec, or bytes built by hand). */
  send(frame: FrameSpec | Uint8Array): void {
    this.socket.write(frame instanceof Uint8Array ? frame : encodeFrame(frame));
  }

  /** The first frame matching, or undefined once the TCP connection is closed or `timeoutMs` passed. */
  async next(predicate: (frame: RawFrame) => boolean, timeoutMs: number): Promise<RawFrame | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(predicate);
      if (found !== undefined || this.isTcpClosed) return found;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await Promise.race([new Promise<void>((resolve) => this.waiters.push(resolve)), Bun.sleep(Math.min(left, 50))]);
    }
  }

  /** The text frames received so far, decoded. */
  texts(): string[] {
    return this.frames.filter((f) => f.opcode === Opcode.text).map((f) => f.payload.toString("utf8"));
  }

  destroy(): void {
    this.socket.destroy();
    peers.delete(this);
  }
}

/** Builds the HTTP upgrade request a browser would send. */
export function upgradeRequest(port: number, key: string, pathAndQuery = "/"): string {
  return (
    `GET ${pathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`
  );
}

/**
 * Connects and upgrades by hand: sends the GET with a fresh Sec-WebSocket-Key, waits
 * for `101 Switching Protocols` with the matching Sec-WebSocket-Accept, and hands the
 * bytes that came after the response headers (often the welcome frame) to the peer.
 */
export async function rawUpgrade(port: number, pathAndQuery = "/", timeoutMs = 5000): Promise<RawPeer> {
  const socket = net.connect(port, "127.0.0.1");
  const key = randomBytes(16).toString("base64");
  const expectedAccept = createHash("sha1").update(key + WS_GUID).digest("base64");
  let received = Buffer.alloc(0);
  try {
    const leftover = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no upgrade response within ${timeoutMs} ms`)), timeoutMs);
      const fail = (error: Error) => {
        clearTimeout(timer);
        socket.off("data", onData);
        reject(error);
      };
      const onData = (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        const end = received.indexOf("\r\n\r\n");
        if (end < 0) return;
        clearTimeout(timer);
        socket.off("data", onData);
        const head = received.subarray(0, end).toString("latin1");
        const [status = "", ...headerLines] = head.split("\r\n");
        if (!status.startsWith("HTTP/1.1 101")) return reject(new Error(`upgrade refused: ${status}`));
        const accept = headerLines.find((line) => /^sec-websocket-accept:/i.test(line))?.split(":")[1]?.trim();
        if (accept !== expectedAccept) return reject(new Error(`bad Sec-WebSocket-Accept ${accept}, expected ${expectedAccept}`));
        resolve(received.subarray(end + 4));
      };
      socket.once("error", fail);
      socket.once("close", () => fail(new Error("connection closed during the upgrade")));
      socket.on("data", onData);
      socket.once("connect", () => socket.write(upgradeRequest(port, key, pathAndQuery)));
    });
    socket.removeAllListeners("error");
    socket.removeAllListeners("close");
    return new RawPeer(socket, leftover);
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/**
 * Waits for the server to end the connection and says how: the close frame's code and
 * reason (1005 if it had none) or 1006 for a TCP close without a close frame. Throws
 * if the code is not one of `codes` or nothing happened within `timeoutMs`, listing
 * what the peer did receive.
 */
export async function expectClose(peer: RawPeer, codes: readonly number[], timeoutMs: number): Promise<CloseOutcome> {
  const started = Date.now();
  const closeFrame = await peer.next((f) => f.opcode === Opcode.close, timeoutMs);
  const afterMs = Date.now() - started;
  let outcome: CloseOutcome;
  if (closeFrame !== undefined) {
    const { payload } = closeFrame;
    outcome = {
      code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005,
      reason: payload.length > 2 ? payload.subarray(2).toString("utf8") : "",
      closeFrame: true,
      tcpClosed: peer.isTcpClosed,
      afterMs,
    };
  } else if (peer.isTcpClosed) {
    outcome = { code: 1006, reason: "", closeFrame: false, tcpClosed: true, afterMs };
  } else {
    const seen = peer.frames.map((f) => `opcode ${f.opcode} ${JSON.stringify(f.payload.toString("utf8").slice(0, 80))}`);
    throw new Error(`connection still open after ${timeoutMs} ms, no close frame; frames received:\n${seen.join("\n")}`);
  }
  if (!codes.includes(outcome.code)) {
    const how = outcome.closeFrame ? `a close frame with ${outcome.code} ${JSON.stringify(outcome.reason)}` : "a TCP close without a close frame (1006)";
    throw new Error(`expected close code ${codes.join(" or ")}, the server sent ${how} after ${afterMs} ms`);
  }
  return outcome;
}
