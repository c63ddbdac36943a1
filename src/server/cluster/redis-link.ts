// The node's two connections to Redis: one for commands, one for pub/sub (a
// subscribed connection can run nothing else). Commands fail at once while Redis is
// away (no offline queue: a message must be refused, not silently queued), and the
// command connection reconnects by itself. Bun does not restore subscriptions after
// a reconnect, so the subscriber is replaced by a fresh one that subscribes again to
// every channel; until both are back and every channel is confirmed again, the node
// is degraded.
import { RedisClient } from "bun";
import { backoffDelay } from "../../client/backoff.ts";
import type { Logger } from "../log.ts";

export type ChannelListener = (message: string, channel: string) => void;

export class RedisLink {
  private subscriber: RedisClient | undefined;
  /** Channels this node wants, and those the current subscriber has (or is getting) confirmed. */
  private readonly channels = new Set<string>();
  private active = new Map<string, Promise<void>>();
  /**
   * The link is whole: the current subscriber has confirmed every channel wanted when it
   * connected and, after an outage, the command connection answered too. A connected
   * subscriber alone is not enough: a message published to a channel not yet subscribed
   * again never reaches this node, so health must not say "ok" yet. Set in the same turn
   * as onRecovered runs, so the node's own recovery marks itself under way before
   * anyone can read "ok".
   */
  private whole = false;
  /** A reconnect attempt is under way: it sees a subscriber lost meanwhile fail, and tries again itself. */
  private reconnecting = false;
  private readonly shas = new Map<string, string>();
  private closed = false;
  private attempt = 0;
  private retry: ReturnType<typeof setTimeout> | undefined;
  /** Called after the link came back from an outage (both connections up, channels subscribed). */
  onRecovered: () => void = () => {};

  private constructor(
    readonly url: string,
    private readonly commands: RedisClient,
    private readonly listener: ChannelListener,
    private readonly log: Logger,
  ) {}

  /** Connects both connections, or throws an Error that names the URL. */
  static async connect(url: string, listener: ChannelListener, log: Logger): Promise<RedisLink> {
    // A client that retries forever would also wait forever for a first connection:
    // the first one is tried once, by a probe.
    const probe = new RedisClient(url, { autoReconnect: false, connectionTimeout: 3000 });
    try {
      await probe.connect();
      await probe.send("PING", []);
    } catch (error) {
      throw new Error(`cannot connect to Redis at ${url}: ${describe(error)}`);
    } finally {
      probe.close();
    }
    const commands = new RedisClient(url, { enableOfflineQueue: false, maxRetries: 4_294_967_295, connectionTimeout: 3000 });
    try {
      await commands.connect();
    } catch (error) {
      commands.close();
      throw new Error(`cannot connect to Redis at ${url}: ${describe(error)}`);
    }
    const link = new RedisLink(url, commands, listener, log);
    try {
      await link.openSubscriber();
      link.whole = true;
    } catch (error) {
      commands.close();
      throw new Error(`cannot connect to Redis at ${url}: ${describe(error)}`);
    }
    return link;
  }

  get healthy(): boolean {
    return this.whole && this.commands.connected && this.subscriber?.connected === true;
  }

  /**
   * Runs a command; rejects at once while Redis is known to be unreachable, and after
   * COMMAND_TIMEOUT_MS when the connection died with the command in flight.
   */
  send(command: string, args: (string | number)[]): Promise<unknown> {
    return deadline(this.commands.send(command, args.map(String)), command);
  }

  /** Runs a Lua script by its SHA, loading it the first time (and again after a Redis restart). */
  async script(source: string, args: (string | number)[]): Promise<unknown> {
    const strings = args.map(String);
    const sha = this.shas.get(source);
    if (sha !== undefined) {
      try {
        return await deadline(this.commands.send("EVALSHA", [sha, "0", ...strings]), "EVALSHA");
      } catch (error) {
        if (!String(error).includes("NOSCRIPT")) throw error;
      }
    }
    this.shas.set(source, String(await this.send("SCRIPT", ["LOAD", source])));
    return this.send("EVAL", [source, "0", ...strings]);
  }

  /**
   * Listens to a channel; resolves once Redis confirmed the subscription (every caller
   * for the same channel waits for the same confirmation).
   */
  subscribe(channel: string): Promise<void> {
    this.channels.add(channel);
    return this.subscribeNow(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    if (!this.channels.delete(channel)) return;
    this.active.delete(channel);
    if (this.subscriber?.connected) await this.subscriber.unsubscribe(channel, this.listener).catch(() => {});
  }

  private subscribeNow(channel: string): Promise<void> {
    const subscriber = this.subscriber;
    // While the subscriber is being replaced, the new one subscribes to every channel.
    if (subscriber === undefined || !subscriber.connected) return Promise.resolve();
    let confirmed = this.active.get(channel);
    if (confirmed === undefined) {
      // Bun calls a listener once per subscribe call: one call per channel and subscriber.
      confirmed = deadline(subscriber.subscribe(channel, this.listener), "SUBSCRIBE").then(() => {});
      confirmed.catch(() => this.active.delete(channel));
      this.active.set(channel, confirmed);
    }
    return confirmed;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.subscriber?.close();
    this.commands.close();
  }

  private async openSubscriber(): Promise<void> {
    const subscriber = new RedisClient(this.url, { autoReconnect: false, enableOfflineQueue: false, connectionTimeout: 3000 });
    subscriber.onclose = () => this.subscriberLost(subscriber);
    try {
      await subscriber.connect();
    } catch (error) {
      subscriber.close();
      throw error;
    }
    // From here on, channels added or removed meanwhile go straight to this subscriber.
    this.subscriber = subscriber;
    this.active = new Map();
    await Promise.all([...this.channels].map((channel) => this.subscribeNow(channel)));
  }

  private subscriberLost(subscriber: RedisClient): void {
    if (this.closed || this.subscriber !== subscriber) return;
    this.subscriber = undefined;
    this.whole = false;
    this.log.warn("redis_lost", { url: this.url });
    // One reconnect loop at a time: two would leave a second subscriber behind.
    if (!this.reconnecting) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const delay = backoffDelay(this.attempt++, { minMs: 250, maxMs: 5000 });
    this.retry = setTimeout(async () => {
      if (this.closed) return;
      this.reconnecting = true;
      try {
        await this.openSubscriber();
        // The command connection reconnects by itself; wait for it before saying so.
        await this.send("PING", []);
        if (this.subscriber?.connected !== true) throw new Error("the subscriber was lost while reconnecting");
      } catch {
        const failed = this.subscriber;
        this.subscriber = undefined;
        failed?.close();
        this.reconnecting = false;
        if (!this.closed) this.scheduleReconnect();
        return;
      }
      this.reconnecting = false;
      this.attempt = 0;
      this.whole = true;
      this.log.info("redis_recovered", { url: this.url });
      this.onRecovered();
    }, delay);
  }
}

/** How long a command may go unanswered (Redis died with it in flight) before it counts as failed. */
const COMMAND_TIMEOUT_MS = 2000;

/**
 * Rejects when Redis does not answer in time. The command may still run later (when
 * the connection comes back): a message refused this way and sent again by its client
 * is recognised by its ref, so it is stored once.
 */
function deadline<T>(answer: Promise<T>, command: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer ${command} within ${COMMAND_TIMEOUT_MS} ms`)), COMMAND_TIMEOUT_MS);
  });
  return Promise.race([answer, late]).finally(() => clearTimeout(timer));
}

function describe(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return /closed|refused|ECONNREFUSED/i.test(text) ? "connection refused" : text;
}
