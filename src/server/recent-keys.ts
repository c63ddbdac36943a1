// A bounded memory of keys recently seen, the oldest forgotten first.

export class RecentKeys {
  private readonly keys = new Set<string>();

  constructor(private readonly size: number) {}

  has(key: string): boolean {
    return this.keys.has(key);
  }

  delete(key: string): void {
    this.keys.delete(key);
  }

  add(key: string): void {
    this.keys.add(key);
    // A Set iterates in insertion order: the first key is the oldest.
    if (this.keys.size > this.size) this.keys.delete(this.keys.values().next().value as string);
  }
}
