// Reconnect delays: exponential growth from `minMs` up to `maxMs` with full jitter
// inside each step, so a crowd of clients that lost the same server does not come
// back in lockstep. Randomness is injected so tests need no sleeps.

export interface BackoffOptions {
  /** @default 500 */
  minMs: number;
  /** @default 20000 */
  maxMs: number;
  random?: () => number;
}

/** The delay before reconnect attempt `attempt` (1 for the first retry). */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const ceiling = Math.min(options.maxMs, options.minMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(options.minMs + random() * (ceiling - options.minMs));
}
