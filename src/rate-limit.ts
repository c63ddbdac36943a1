// A token bucket: `rate` frames per second sustained, bursts of up to `burst`. The
// server keeps one per connection; the client keeps one with the server's numbers
// (from `welcome`) so that it paces itself instead of being refused. The clock is
// injected so tests need no sleeps.

export interface RateLimitOptions {
  /** Frames per second sustained; 0 turns limiting off. @default 20 */
  rate: number;
  /** Frames allowed at once after a quiet spell. @default 40 */
  burst: number;
  now?: () => number;
}

// The server keeps one per connection, so a bucket is one small object: numbers, and
// a clock only when a test injects one (a bound function and the options object per
// bucket were 110 bytes of every idle connection).
export class TokenBucket {
  private readonly rate: number;
  private readonly burst: number;
  private tokens: number;
  private updated: number;
  private readonly clock: (() => number) | undefined;

  constructor(options: RateLimitOptions) {
    this.rate = options.rate;
    this.burst = options.burst;
    this.clock = options.now;
    this.tokens = options.burst;
    this.updated = this.now();
  }

  /** Takes one token; false when the bucket is empty (the frame is over the limit). */
  take(): boolean {
    if (this.rate <= 0) return true;
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until a token is available (0 when one is). */
  waitMs(): number {
    if (this.rate <= 0) return 0;
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.rate) * 1000);
  }

  private now(): number {
    return this.clock === undefined ? performance.now() : this.clock();
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updated) / 1000) * this.rate);
    this.updated = now;
  }
}

/**
 * Counts refusals in a sliding window: a client that keeps flooding after being told
 * (`limit` refusals within `windowMs`) is disconnected rather than answered forever.
 */
export class RefusalCounter {
  private readonly times: number[] = [];
  private readonly now: () => number;

  constructor(private readonly limit: number, private readonly windowMs: number, now?: () => number) {
    this.now = now ?? performance.now.bind(performance);
  }

  /** Records a refusal; true when the window now holds `limit` of them. */
  record(): boolean {
    const now = this.now();
    this.times.push(now);
    while (this.times.length > 0 && this.times[0]! <= now - this.windowMs) this.times.shift();
    return this.times.length >= this.limit;
  }
}
