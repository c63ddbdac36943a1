// The flood scenario's abusive client: one connection that sends small text frames
// as fast as its socket takes them. It runs in a worker process of its own (see
// agent.ts), so its tight loop never delays the well-behaved clients' timetable or
// their receive timestamps. Pacing is by backpressure: a chunk of pre-encoded frames
// goes out in one write only when the previous one has been taken by the kernel, and
// the loop yields to the event loop after every chunk, so the flooder still reads
// what the server sends it (refusals, the close frame).
import { nowUs } from "./marker.ts";
import { RawWebSocket } from "./raw-websocket.ts";

/** A short chat line with no bench marker: receivers count it as a frame, never as a delivery. */
const FLOOD_TEXT = "flood flood flood";
/** Frames per write: ~1.4 KB, small enough that a refusal is read back soon after the limit trips. */
const CHUNK_FRAMES = 64;
/** Longest wait for the kernel to take a chunk before the loop checks the clock again. */
const DRAIN_WAIT_MS = 50;
/** How an error frame of ours names a refusal; searched in the raw bytes, never parsed. */
const REFUSAL = Buffer.from('"rate_limited"');

export interface FloodPlan {
  /** When to start, on the nowUs clock shared with the generator's open loop. */
  startUs: number;
  seconds: number;
  /** Times to reconnect after the server closes the flooder, to keep the pressure on. */
  reconnects: number;
}

export interface FloodClose {
  /** Milliseconds after the flood started (negative: before it). */
  atMs: number;
  /** Status of the server's close frame; null when the connection ended without one. */
  code: number | null;
  reason: string;
}

export interface FloodResult {
  /** Flood frames the kernel took, over every connection the flooder used. */
  sent: number;
  /** `rate_limited` error frames the flooder received. */
  refused: number;
  /** Every time the server closed (or dropped) the flooder after it had opened. */
  closes: FloodClose[];
  /** Reconnections made during the flood. */
  reconnected: number;
  /** Why a reconnection failed, if one did. */
  reconnectError?: string;
  /** How long, in ms, the flooder was connected and sending during the flood. */
  floodingMs: number;
}

export class Flooder {
  private url = "";
  private socket: RawWebSocket | undefined;
  private refused = 0;
  private closes: Array<{ atUs: number; code: number | null; reason: string }> = [];
  /** Bytes taken by the kernel on connections already closed. */
  private bytesBefore = 0;

  /** Opens the flooder's connection; resolves null when open, or the reason it did not open. */
  connect(url: string, timeoutMs: number): Promise<string | null> {
    this.url = url;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        socket.close();
        resolve("timed out");
      }, timeoutMs);
      const socket = RawWebSocket.connect(url, {
        onOpen: () => {
          clearTimeout(timer);
          resolve(null);
        },
        onData: (bytes, start, end) => {
          const at = bytes.indexOf(REFUSAL, start);
          if (at >= 0 && at < end) this.refused++;
        },
        onClose: (reason, wasOpen, code) => {
          if (wasOpen) {
            this.closes.push({ atUs: nowUs(), code: code ?? null, reason });
            return;
          }
          clearTimeout(timer);
          resolve(reason);
        },
      });
      this.socket = socket;
    });
  }

  /** Floods from plan.startUs for plan.seconds; counts from zero each time. */
  async flood(plan: FloodPlan): Promise<FloodResult> {
    const chunk = RawWebSocket.encodeTextFrames(FLOOD_TEXT, CHUNK_FRAMES);
    const frameBytes = chunk.length / CHUNK_FRAMES;
    const endUs = plan.startUs + plan.seconds * 1e6;
    this.refused = 0;
    this.closes = [];
    this.bytesBefore = 0;
    const startBytes = this.socket?.bytesWritten ?? 0;
    const result: FloodResult = { sent: 0, refused: 0, closes: [], reconnected: 0, floodingMs: 0 };
    let reconnectsLeft = plan.reconnects;

    const wait = plan.startUs - nowUs();
    if (wait > 0) await Bun.sleep(wait / 1000);
    let sendingSinceUs: number | undefined = nowUs();
    let firstSocket = true;

    while (nowUs() < endUs) {
      const socket = this.socket;
      if (socket === undefined || !socket.isOpen) {
        if (sendingSinceUs !== undefined) {
          result.floodingMs += (nowUs() - sendingSinceUs) / 1000;
          sendingSinceUs = undefined;
        }
        this.bytesBefore += (socket?.bytesWritten ?? 0) - (firstSocket ? startBytes : 0);
        firstSocket = false;
        this.socket = undefined;
        if (reconnectsLeft <= 0) break;
        reconnectsLeft--;
        const failed = await this.connect(this.url, Math.max(1, (endUs - nowUs()) / 1000));
        if (failed !== null) {
          result.reconnectError = failed;
          break;
        }
        result.reconnected++;
        sendingSinceUs = nowUs();
        continue;
      }
      if (socket.drained) {
        socket.sendBytes(chunk);
      } else {
        await waitAtMost(socket.whenDrained(), DRAIN_WAIT_MS);
      }
      // Let reads (refusals, a close frame) and the drain callback run.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }

    if (sendingSinceUs !== undefined) result.floodingMs += (nowUs() - sendingSinceUs) / 1000;
    const current = this.socket;
    if (current !== undefined) this.bytesBefore += current.bytesWritten - (firstSocket ? startBytes : 0);
    result.sent = Math.floor(this.bytesBefore / frameBytes);
    result.refused = this.refused;
    result.closes = this.closes.map((c) => ({ atMs: (c.atUs - plan.startUs) / 1000, code: c.code, reason: c.reason }));
    return result;
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }
}

async function waitAtMost(promise: Promise<void>, ms: number): Promise<void> {
  let timer: Timer | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
