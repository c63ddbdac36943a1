// Keys remembered for a while: a direct message's sender and ref, so that a resend
// after a lost ack is acked again instead of delivered twice. Direct messages are not
// stored, so history cannot answer this as it does for room messages.
import type { Awaitable } from "./awaitable.ts";

export interface KeyMemory {
  /** True when the key is new (and remembered from now on); false when it was seen before. */
  claim(key: string): Awaitable<boolean>;
  /** Forgets a claimed key: what it stood for did not happen, so a resend must go through. */
  release(key: string): Awaitable<void>;
}

/** One process's memory: a bounded set, the oldest key forgotten first. */
export class RecentKeys implements KeyMemory {
  private readonly keys = new Set<string>();

  constructor(private readonly size: number) {}

  claim(key: string): boolean {
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    // A Set iterates in insertion order: the first key is the oldest.
    if (this.keys.size > this.size) this.keys.delete(this.keys.values().next().value as string);
    return true;
  }

  release(key: string): void {
    this.keys.delete(key);
  }
}
