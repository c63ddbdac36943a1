// Who may open a WebSocket: the checks an upgrade request passes before it becomes a
// connection, each refusal an HTTP status (PROTOCOL.md): 503 shutting down, 403 origin
// not allowed, 429 too many connections, 401 missing or bad token.

export type Refusal = { status: 401 | 403 | 429 | 503; reason: string };

export interface OriginPolicy {
  /** Exact origins allowed ("https://chat.example.com"); "*" allows any. */
  allowed: string[];
}

/**
 * Browsers send Origin on a WebSocket upgrade; command-line clients do not. Without
 * --origins, a request with no Origin or one naming the same host is allowed, which
 * stops other sites' pages from opening connections with the visitor's cookies.
 */
export function checkOrigin(request: Request, policy: OriginPolicy): Refusal | undefined {
  const origin = request.headers.get("origin");
  if (origin === null) return undefined;
  if (policy.allowed.includes("*") || policy.allowed.includes(origin)) return undefined;
  if (policy.allowed.length === 0) {
    const host = request.headers.get("host");
    try {
      if (host !== null && new URL(origin).host === host) return undefined;
    } catch {
      // not a URL: refused below
    }
  }
  return { status: 403, reason: "origin not allowed" };
}

/** Connections per remote address and in total; 0 means no cap. */
export class ConnectionCaps {
  /** Per remote address: its connections, and the address as first seen (see `intern`). */
  private readonly perAddress = new Map<string, { address: string; count: number }>();
  private total = 0;

  constructor(private readonly maxPerAddress: number, private readonly maxTotal: number) {}

  /**
   * The copy of this address the connections from it already hold: each upgrade gets
   * a new string from Bun, and keeping one per connection cost 40 bytes of every idle
   * connection behind a shared address (a proxy, a NAT, the benchmark).
   */
  intern(address: string): string {
    return this.perAddress.get(address)?.address ?? address;
  }

  check(address: string): Refusal | undefined {
    if (this.maxTotal > 0 && this.total >= this.maxTotal) return { status: 429, reason: "the server is full" };
    if (this.maxPerAddress > 0 && (this.perAddress.get(address)?.count ?? 0) >= this.maxPerAddress) {
      return { status: 429, reason: "too many connections from your address" };
    }
    return undefined;
  }

  opened(address: string): void {
    this.total++;
    const entry = this.perAddress.get(address);
    if (entry === undefined) this.perAddress.set(address, { address, count: 1 });
    else entry.count++;
  }

  closed(address: string): void {
    this.total--;
    const entry = this.perAddress.get(address);
    if (entry === undefined) return;
    if (--entry.count <= 0) this.perAddress.delete(address);
  }
}

export function refusalResponse(refusal: Refusal): Response {
  return new Response(`${refusal.reason}\n`, { status: refusal.status, headers: { "content-type": "text/plain" } });
}
