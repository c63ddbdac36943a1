// RFC 6455 conformance of the server as started by a user, with frames built by hand
// over node:net (the Autobahn suite cannot run here). Each protocol violation must
// fail that one connection with the right close code, then close the TCP connection,
// and deliver nothing of the offending frame; and after each case the server must
// still serve other clients, old and new.
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import net from "node:net";
import type { ServerFrame } from "../../src/protocol.ts";
import { cleanup, startServer, TestClient, type ServerProcess } from "../helpers.ts";
import {
  closePayload,
  closeRawPeers,
  expectClose,
  Opcode,
  rawUpgrade,
  upgradeRequest,
  type CloseOutcome,
  type FrameSpec,
  type RawPeer,
} from "../raw-frames.ts";

// These tests start real processes; a loaded CI machine needs more than 5 s now and then.
setDefaultTimeout(20_000);

afterEach(closeRawPeers);
afterAll(async () => {
  closeRawPeers();
  await cleanup();
});

const isMessage = (content: string) => (f: ServerFrame) => f.type === "message" && f.content === content;
const bytes = (...values: number[]) => new Uint8Array(values);
const concat = (...parts: Array<string | Uint8Array>) =>
  Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part, "utf8") : part)));

/** How long a server may take to fail a connection after the offending frame. */
const CLOSE_WITHIN_MS = 2000;

/** A raw peer that has completed the upgrade and seen its welcome, so the server's `open` has run. */
async function connectRaw(server: ServerProcess): Promise<RawPeer> {
  const peer = await rawUpgrade(server.port);
  const welcome = await peer.next((f) => f.opcode === Opcode.text && f.payload.toString("utf8").includes('"welcome"'), 3000);
  if (welcome === undefined) throw new Error(`no welcome frame; got ${JSON.stringify(peer.texts())}`);
  return peer;
}

let serial = 0;
/**
 * A fresh TestClient on the same server sends a message and gets it back, and the
 * `observer` (connected before the case) receives it too: the server survived the case
 * for new and existing connections alike.
 */
async function stillServes(server: ServerProcess, observer: TestClient): Promise<void> {
  const client = await TestClient.connect(server.url);
  await client.welcome();
  const content = `still serving ${++serial}`;
  client.send(content);
  await client.next(isMessage(content));
  await observer.next(isMessage(content));
  client.close();
}

/** Whether the observer ever saw a message containing `marker` (it must not, for a rejected frame). */
const delivered = (observer: TestClient, marker: string) =>
  observer.frames.some((f) => f.type === "message" && f.content.includes(marker));

/**
 * Sends `frames` on a fresh raw connection and expects the server to fail it: a close
 * frame with one of `codes`, then the TCP connection closed by the server (RFC 6455
 * §7.1.7: failing a connection closes it; the peer here never answers the close).
 */
async function violate(server: ServerProcess, frames: Array<FrameSpec | Uint8Array>, codes: number[]): Promise<CloseOutcome> {
  const peer = await connectRaw(server);
  for (const frame of frames) peer.send(frame);
  const outcome = await expectClose(peer, codes, CLOSE_WITHIN_MS);
  expect(outcome.closeFrame).toBe(true);
  const tcpClosed = await Promise.race([peer.tcpClosed.then(() => true), Bun.sleep(CLOSE_WITHIN_MS).then(() => false)]);
  if (!tcpClosed) throw new Error(`the server sent close ${outcome.code} but left the TCP connection open for ${CLOSE_WITHIN_MS} ms`);
  return outcome;
}

describe("protocol violations fail only the offending connection", () => {
  let server: ServerProcess;
  let observer: TestClient;
  beforeAll(async () => {
    server = await startServer();
    observer = await TestClient.connect(server.url);
    await observer.welcome();
  });

  test("a text frame with invalid UTF-8 is closed with 1007, whole or split across fragments", async () => {
    const invalid: Array<[string, Array<FrameSpec | Uint8Array>]> = [
      ["C3 28 (a lead byte without its continuation)", [{ opcode: Opcode.text, payload: concat("utf8-a ", bytes(0xc3, 0x28)) }]],
      ["a lone continuation byte 80", [{ opcode: Opcode.text, payload: concat("utf8-b ", bytes(0x80)) }]],
      ["the overlong encoding C0 AF of '/'", [{ opcode: Opcode.text, payload: concat("utf8-c ", bytes(0xc0, 0xaf)) }]],
      ["the UTF-16 surrogate ED A0 80", [{ opcode: Opcode.text, payload: concat("utf8-d ", bytes(0xed, 0xa0, 0x80)) }]],
      ["F4 90 80 80, above U+10FFFF", [{ opcode: Opcode.text, payload: concat("utf8-e ", bytes(0xf4, 0x90, 0x80, 0x80)) }]],
      [
        "E2 | 82 FF split across two fragments",
        [
          { opcode: Opcode.text, fin: false, payload: concat("utf8-f ", bytes(0xe2)) },
          { opcode: Opcode.continuation, payload: bytes(0x82, 0xff) },
        ],
      ],
    ];
    for (const [what, frames] of invalid) {
      const outcome = await violate(server, frames, [1007]).catch((error: Error) => {
        throw new Error(`${what}: ${error.message}`);
      });
      expect(outcome.code).toBe(1007);
    }
    await stillServes(server, observer);
    expect(observer.frames.some((f) => f.type === "message" && /^utf8-/.test(f.content))).toBe(false);
  });

  test("an unmasked client frame is closed with 1002", async () => {
    const outcome = await violate(server, [{ opcode: Opcode.text, payload: "unmasked-frame", mask: false }], [1002]);
    expect(outcome.code).toBe(1002);
    await stillServes(server, observer);
    expect(delivered(observer, "unmasked-frame")).toBe(false);
  });

  test("a frame with RSV1, RSV2 or RSV3 set, no extension being negotiated, is closed with 1002", async () => {
    for (const [bit, rsv] of [["RSV1", 0b100], ["RSV2", 0b010], ["RSV3", 0b001]] as const) {
      const outcome = await violate(server, [{ opcode: Opcode.text, rsv, payload: `reserved-bit-${bit}` }], [1002]).catch((error: Error) => {
        throw new Error(`${bit}: ${error.message}`);
      });
      expect(outcome.code).toBe(1002);
    }
    await stillServes(server, observer);
    expect(delivered(observer, "reserved-bit-")).toBe(false);
  });

  test("the unknown opcodes 0x3 (data) and 0xB (control) are closed with 1002", async () => {
    for (const opcode of [0x3, 0xb]) {
      const outcome = await violate(server, [{ opcode, payload: `opcode-${opcode}` }], [1002]).catch((error: Error) => {
        throw new Error(`opcode 0x${opcode.toString(16)}: ${error.message}`);
      });
      expect(outcome.code).toBe(1002);
    }
    await stillServes(server, observer);
  });

  test("a fragmented control frame (a ping with FIN=0) is closed with 1002", async () => {
    const outcome = await violate(server, [{ opcode: Opcode.ping, fin: false, payload: "fragmented ping" }], [1002]);
    expect(outcome.code).toBe(1002);
    await stillServes(server, observer);
  });

  test("a control frame with a payload over 125 bytes is closed with 1002", async () => {
    for (const opcode of [Opcode.ping, Opcode.pong, Opcode.close]) {
      const payload = opcode === Opcode.close ? closePayload(1000, "r".repeat(124)) : "p".repeat(126);
      const outcome = await violate(server, [{ opcode, payload }], [1002]).catch((error: Error) => {
        throw new Error(`opcode 0x${opcode.toString(16)} with 126 bytes: ${error.message}`);
      });
      expect(outcome.code).toBe(1002);
    }
    await stillServes(server, observer);
  });

  test("a close frame with an invalid close code is closed with 1002", async () => {
    // 1004-1006 and 1015 are reserved or must never be sent; 1016-2999 are reserved
    // for the protocol; below 1000 and above 4999 are not close codes at all.
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]) {
      const outcome = await violate(server, [{ opcode: Opcode.close, payload: closePayload(code) }], [1002]).catch((error: Error) => {
        throw new Error(`close code ${code}: ${error.message}`);
      });
      expect(outcome.code).toBe(1002);
    }
    await stillServes(server, observer);
  });

  test("a close frame with a 1-byte payload is closed with 1002", async () => {
    const outcome = await violate(server, [{ opcode: Opcode.close, payload: bytes(0x03) }], [1002]);
    expect(outcome.code).toBe(1002);
    await stillServes(server, observer);
  });

  test("a close frame whose reason is invalid UTF-8 is closed with 1007", async () => {
    const outcome = await violate(server, [{ opcode: Opcode.close, payload: concat(closePayload(1000), bytes(0xc3, 0x28)) }], [1007]);
    expect(outcome.code).toBe(1007);
    await stillServes(server, observer);
  });

  test("a continuation frame without a message to continue is closed with 1002", async () => {
    const outcome = await violate(server, [{ opcode: Opcode.continuation, payload: "orphan-continuation" }], [1002]);
    expect(outcome.code).toBe(1002);
    await stillServes(server, observer);
    expect(delivered(observer, "orphan-continuation")).toBe(false);
  });

  test("a new text frame while a fragmented message is in progress is closed with 1002", async () => {
    const outcome = await violate(
      server,
      [
        { opcode: Opcode.text, fin: false, payload: "interrupted-start " },
        { opcode: Opcode.text, payload: "interrupting-message" },
      ],
      [1002],
    );
    expect(outcome.code).toBe(1002);
    await stillServes(server, observer);
    expect(delivered(observer, "interrupted-start")).toBe(false);
    expect(delivered(observer, "interrupting-message")).toBe(false);
  });

  test("valid closes are echoed with the same code: 1000 with a reason, 3000-4999, and an empty close as 1005", async () => {
    for (const [payload, code] of [[closePayload(1000, "bye"), 1000], [closePayload(4321), 4321], [bytes(), 1005]] as const) {
      const outcome = await violate(server, [{ opcode: Opcode.close, payload }], [code]);
      expect(outcome.code).toBe(code);
    }
    await stillServes(server, observer);
  });

  test("a valid text message in 3 fragments is accepted and broadcast as one message", async () => {
    const peer = await connectRaw(server);
    // Multi-byte characters split across fragment boundaries are valid UTF-8 once joined.
    peer.send({ opcode: Opcode.text, fin: false, payload: concat("three fragments: caf", bytes(0xc3)) });
    peer.send({ opcode: Opcode.continuation, fin: false, payload: concat(bytes(0xa9), " and ", bytes(0xe2, 0x9c)) });
    peer.send({ opcode: Opcode.continuation, payload: concat(bytes(0x93), " done") });
    const whole = "three fragments: café and ✓ done";
    const seen = await observer.next<Extract<ServerFrame, { type: "message" }>>(isMessage(whole));
    expect(seen.room).toBe("lobby");
    const echo = await peer.next((f) => f.opcode === Opcode.text && f.payload.toString("utf8").includes(whole), 3000);
    expect(echo?.fin).toBe(true);
    // One message, not three.
    expect(observer.frames.filter((f) => f.type === "message" && f.content.includes("three fragments")).length).toBe(1);
    expect(peer.isTcpClosed).toBe(false);
    await stillServes(server, observer);
  });

  test("a ping between the fragments of a message is answered and the message still arrives whole", async () => {
    const peer = await connectRaw(server);
    peer.send({ opcode: Opcode.text, fin: false, payload: "interleaved " });
    peer.send({ opcode: Opcode.ping, payload: "mid-message" });
    peer.send({ opcode: Opcode.continuation, payload: "control frame" });
    const pong = await peer.next((f) => f.opcode === Opcode.pong, 3000);
    expect(pong?.payload.toString("utf8")).toBe("mid-message");
    await observer.next(isMessage("interleaved control frame"));
    expect(peer.isTcpClosed).toBe(false);
    await stillServes(server, observer);
  });

  test("a ping gets a pong with the same payload: text, binary, empty and 125 bytes", async () => {
    const peer = await connectRaw(server);
    const payloads = [Buffer.from("ping ✓ payload"), Buffer.from([0x00, 0xff, 0x80, 0xc3, 0x28]), Buffer.alloc(0), randomBytes(125)];
    for (const payload of payloads) {
      const before = peer.frames.length;
      peer.send({ opcode: Opcode.ping, payload });
      const pong = await peer.next((f) => f.opcode === Opcode.pong && peer.frames.indexOf(f) >= before, 3000);
      if (pong === undefined) throw new Error(`no pong for a ${payload.length}-byte ping`);
      expect(pong.payload.equals(payload)).toBe(true);
      expect(pong.fin).toBe(true);
    }
    // Server frames are never masked and carry no reserved bits.
    for (const frame of peer.frames) expect({ masked: frame.masked, rsv: frame.rsv }).toEqual({ masked: false, rsv: 0 });
    expect(peer.isTcpClosed).toBe(false);
    await stillServes(server, observer);
  });

  test("a trickled upgrade, one byte every 200 ms and never finished, is closed by the server", async () => {
    // Bun's HTTP idle timeout (Bun.serve `idleTimeout`, 10 s by default, checked on a
    // 4 s timer tick) does not restart on a trickle: observed closes 8-12.3 s after
    // connecting. The server sets no shorter limit, hence this bound.
    const DEADLINE_MS = 15_000;
    const request = upgradeRequest(server.port, randomBytes(16).toString("base64"));
    const partial = request.slice(0, -2); // never the blank line that ends the headers
    const socket = net.connect(server.port, "127.0.0.1");
    let response = "";
    let sent = 0;
    let closedAfter: number | undefined;
    const started = Date.now();
    socket.on("data", (chunk: Buffer) => (response += chunk.toString("latin1")));
    socket.on("error", () => {});
    socket.on("close", () => (closedAfter = Date.now() - started));
    const trickle = setInterval(() => {
      if (sent < partial.length && !socket.destroyed) socket.write(partial[sent++]!);
    }, 200);
    try {
      while (closedAfter === undefined && Date.now() - started < DEADLINE_MS) await Bun.sleep(50);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
    if (closedAfter === undefined) {
      throw new Error(`a half-sent upgrade (${sent} of ${request.length} bytes, one every 200 ms) was still open after ${DEADLINE_MS} ms`);
    }
    expect(sent).toBeLessThan(partial.length); // it was still trickling when closed
    expect(sent).toBeGreaterThan(5); // not refused outright
    expect(response).not.toContain("101 Switching Protocols");
    expect(closedAfter).toBeLessThan(DEADLINE_MS);
    await stillServes(server, observer);
  }, 25_000);
});

describe("frames over --max-payload 1024 are closed with 1009", () => {
  let server: ServerProcess;
  let observer: TestClient;
  beforeAll(async () => {
    server = await startServer(["--max-payload", "1024"]);
    observer = await TestClient.connect(server.url);
    await observer.welcome();
  });

  test("a 1000-byte frame under the limit passes; a single 2000-byte frame is closed with 1009", async () => {
    const under = await connectRaw(server);
    under.send({ opcode: Opcode.text, payload: `under-limit ${"u".repeat(988)}` });
    await observer.next((f) => f.type === "message" && f.content.startsWith("under-limit "));
    expect(under.isTcpClosed).toBe(false);

    const outcome = await violate(server, [{ opcode: Opcode.text, payload: `over-limit ${"o".repeat(1989)}` }], [1009]);
    expect(outcome.code).toBe(1009);
    await stillServes(server, observer);
    expect(delivered(observer, "over-limit")).toBe(false);
  });

  test("a fragmented message whose fragments fit but whose total exceeds the limit is closed with 1009", async () => {
    const fragment = "f".repeat(600);
    const outcome = await violate(
      server,
      [
        { opcode: Opcode.text, fin: false, payload: `fragmented-over ${fragment}` },
        { opcode: Opcode.continuation, fin: false, payload: fragment },
        { opcode: Opcode.continuation, payload: fragment },
      ],
      [1009],
    );
    expect(outcome.code).toBe(1009);
    await stillServes(server, observer);
    expect(delivered(observer, "fragmented-over")).toBe(false);
  });
});

describe("the heartbeat (--heartbeat 0.3)", () => {
  const HEARTBEAT_MS = 300;

  test("a mute socket that never answers pings is closed within 3 heartbeat intervals; one that answers stays", async () => {
    const server = await startServer(["--heartbeat", String(HEARTBEAT_MS / 1000)]);
    const observer = await TestClient.connect(server.url); // Bun's client answers pings itself
    await observer.welcome();
    const answering = await connectRaw(server);
    answering.answerPings = true;
    const mute = await connectRaw(server);

    const outcome = await expectClose(mute, [1006, 1000, 1001, 1008], 3 * HEARTBEAT_MS);
    expect(outcome.afterMs).toBeLessThan(3 * HEARTBEAT_MS);
    // It was the heartbeat: the server pinged first and logged why it closed.
    expect(mute.frames.some((f) => f.opcode === Opcode.ping)).toBe(true);
    await server.stderr.waitFor(/disconnect .*cause=heartbeat/, 2000);

    // Several more intervals: the peer that answers its pings is still there.
    await Bun.sleep(4 * HEARTBEAT_MS);
    expect(answering.frames.filter((f) => f.opcode === Opcode.ping).length).toBeGreaterThanOrEqual(3);
    expect(answering.isTcpClosed).toBe(false);
    await stillServes(server, observer);
  });
});
