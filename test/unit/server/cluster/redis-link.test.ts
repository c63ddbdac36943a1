// The node's link to Redis against a scripted RESP server, which can leave a SUBSCRIBE
// unanswered: the window a real Redis leaves open for one round trip (or longer, while
// it loads its data after a restart), held open for as long as the test needs.
import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import type { Socket } from "bun";
import { RedisLink } from "../../../../src/server/cluster/redis-link.ts";
import { silentLogger } from "../../../../src/server/log.ts";

interface FakeRedis {
  url: string;
  /** Every SUBSCRIBE received so far, with the socket it came on. */
  subscribes: Array<Socket<undefined>>;
  /** Whether SUBSCRIBE is answered (confirmed) or left hanging. */
  answerSubscribe: boolean;
  /** Holds back the answers to PING (a slow Redis) until `answerPings`. */
  holdPings: boolean;
  /** Answers the PINGs held back, in order, and every later one at once. */
  answerPings(): void;
  /** Sockets that sent a SUBSCRIBE and are still open. */
  openSubscribers(): number;
  stop(): void;
}

/** Just enough RESP3 for Bun's RedisClient: HELLO, PING, SUBSCRIBE; anything else is +OK. */
function fakeRedis(): FakeRedis {
  const closed = new Set<Socket<undefined>>();
  const heldPings: Array<Socket<undefined>> = [];
  const fake: FakeRedis = {
    url: "",
    subscribes: [],
    answerSubscribe: true,
    holdPings: false,
    answerPings() {
      fake.holdPings = false;
      for (const socket of heldPings.splice(0)) socket.write("+PONG\r\n");
    },
    openSubscribers: () => new Set(fake.subscribes.filter((socket) => !closed.has(socket))).size,
    stop: () => server.stop(true),
  };
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      close(socket) {
        closed.add(socket);
      },
      data(socket, data) {
        // One command per packet is all this client sends here; its arguments are the bulk strings.
        const parts = data.toString().split("\r\n");
        const words = parts.filter((_, i) => i > 0 && i % 2 === 0);
        const command = (words[0] ?? "").toUpperCase();
        if (command === "HELLO") return void socket.write("%1\r\n+server\r\n+redis\r\n");
        if (command === "PING") return void (fake.holdPings ? heldPings.push(socket) : socket.write("+PONG\r\n"));
        if (command === "SUBSCRIBE") {
          fake.subscribes.push(socket);
          const channel = words[1] ?? "";
          if (fake.answerSubscribe) socket.write(`>3\r\n$9\r\nsubscribe\r\n$${channel.length}\r\n${channel}\r\n:1\r\n`);
          return;
        }
        socket.write("+OK\r\n");
      },
    },
  });
  fake.url = `redis://127.0.0.1:${server.port}`;
  return fake;
}

// A reconnect waits out a backoff and, for an unanswered command, a 2 s deadline.
setDefaultTimeout(20_000);

let link: RedisLink | undefined;
let fake: FakeRedis | undefined;
afterEach(() => {
  link?.close();
  fake?.stop();
});

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await Bun.sleep(10);
  }
}

test("after the subscriber reconnects, the link is not healthy until its channels are subscribed again", async () => {
  fake = fakeRedis();
  link = await RedisLink.connect(fake.url, () => {}, silentLogger);
  await link.subscribe("chat:room:lobby");
  expect(link.healthy).toBe(true);

  // The subscriber's connection drops; the new one connects, but its SUBSCRIBE hangs.
  fake.answerSubscribe = false;
  fake.subscribes[0]!.end();
  await until(() => fake!.subscribes.length === 2, 5_000, "a second SUBSCRIBE");
  await Bun.sleep(100);
  // Both connections are up, yet a message published now would not reach this node.
  expect(link.healthy).toBe(false);

  // The unanswered SUBSCRIBE times out and the link tries again; answered, it is healthy.
  fake.answerSubscribe = true;
  await until(() => link!.healthy, 10_000, "health after the channel was confirmed");
  expect(fake.subscribes.length).toBeGreaterThanOrEqual(3);
});

test("after an outage, the link is not healthy until the command connection answers too", async () => {
  fake = fakeRedis();
  link = await RedisLink.connect(fake.url, () => {}, silentLogger);
  await link.subscribe("chat:room:lobby");
  let recovered = 0;
  link.onRecovered = () => recovered++;

  // The subscriber comes back and confirms its channel, but the command connection is silent.
  fake.holdPings = true;
  fake.subscribes[0]!.end();
  await until(() => fake!.subscribes.length === 2, 5_000, "a second SUBSCRIBE");
  await Bun.sleep(100);
  // Before: "ok" here, a round trip ahead of onRecovered and the node's own recovery.
  expect(link.healthy).toBe(false);
  expect(recovered).toBe(0);

  fake.answerPings();
  await until(() => link!.healthy, 10_000, "health once PING was answered");
  expect(recovered).toBe(1);
});

test("a subscriber lost while it subscribes again leaves one reconnect loop and one subscriber", async () => {
  fake = fakeRedis();
  link = await RedisLink.connect(fake.url, () => {}, silentLogger);
  await link.subscribe("chat:room:lobby");

  // The reconnect's SUBSCRIBE is never answered: its connection drops under it.
  fake.answerSubscribe = false;
  fake.subscribes[0]!.end();
  await until(() => fake!.subscribes.length === 2, 5_000, "a second SUBSCRIBE");
  fake.answerSubscribe = true;
  fake.subscribes[1]!.end();
  await until(() => link!.healthy, 10_000, "health after the drop");
  // A second loop would subscribe again within its backoff (at most a few seconds here).
  await Bun.sleep(3_000);
  expect(fake.openSubscribers()).toBe(1);
  expect(link.healthy).toBe(true);
});
