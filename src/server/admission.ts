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
  private readonly perAddress = new Map<string, number>();
  private total = 0;

  constructor(private readonly maxPerAddress: number, private readonly maxTotal: number) {}

  check(address: string): Refusal | undefined {
    if (this.maxTotal > 0 && this.total >= this.maxTotal) return { status: 429, reason: "the server is full" };
    if (this.maxPerAddress > 0 && (this.perAddress.get(address) ?? 0) >= this.maxPerAddress) {
      return { status: 429, reason: "too many connections from your address" };
    }
    return undefined;
  }

  opened(address: string): void {
    this.total++;
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
  }

  closed(address: string): void {
    this.total--;
    const left = (this.perAddress.get(address) ?? 1) - 1;
    if (left <= 0) this.perAddress.delete(address);
    else this.perAddress.set(address, left);
  }
}

export function refusalResponse(refusal: Refusal): Response {
  return new Response(`${refusal.reason}\n`, { status: refusal.status, headers: { "content-type": "text/plain" } });
}
