// Optional authentication: HS256 JSON Web Tokens checked with Web Crypto, no
// dependencies. Only HS256 is accepted, whatever the header asks for, so a token
// cannot pick a weaker algorithm ("none") or one the secret was not meant for.
// The signature is checked before the payload is read, so a stranger without the
// secret learns nothing beyond "bad signature". Rejection reasons never contain the
// token, so they are safe to log.
import { ConfigError } from "../config.ts";

/** Longest token accepted; longer ones are rejected before any parsing or crypto. */
export const MAX_TOKEN_LENGTH = 4096;
/** Longest `sub` (the userId). */
export const MAX_SUB_LENGTH = 64;
/**
 * How far the server's clock may be from the issuer's: `exp` is honoured this many
 * seconds late and `nbf` this many seconds early.
 */
export const CLOCK_SKEW_SECONDS = 30;

export interface VerifiedToken {
  ok: true;
  /** The userId. */
  sub: string;
  /** The display name, when the token carries one. */
  name?: string;
  /** Expiry in seconds since the epoch, when the token has one (see tokenDeadlineMs). */
  exp?: number;
}

export interface TokenRejection {
  ok: false;
  /** A short reason for logs and 401 bodies; never contains the token. */
  reason: string;
}

export interface TokenVerifier {
  verify(token: string): Promise<VerifiedToken | TokenRejection>;
}

export interface TokenClaims {
  sub: string;
  name?: string;
  /** Lifetime in seconds; without it the token never expires. */
  ttlSeconds?: number;
}

const encoder = new TextEncoder();
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const HMAC_SHA256 = { name: "HMAC", hash: "SHA-256" } as const;
const SIGNATURE_BYTES = 32;

function importKey(secret: string, usage: "sign" | "verify"): Promise<CryptoKey> {
  // Web Crypto refuses an empty HMAC key with an obscure DataError; say it plainly.
  if (secret === "") throw new Error("the auth secret must not be empty");
  return crypto.subtle.importKey("raw", encoder.encode(secret), HMAC_SHA256, false, [usage]);
}

function encodeBase64url(bytes: Uint8Array | string): string {
  return Buffer.from(typeof bytes === "string" ? encoder.encode(bytes) : bytes).toString("base64url");
}

/** Strict: only the base64url alphabet, no padding, and the canonical encoding only. */
function decodeBase64url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, "base64url");
  // Non-zero leftover bits would give a second spelling of the same bytes.
  return bytes.toString("base64url") === text ? new Uint8Array(bytes) : undefined;
}

function decodeJsonObject(bytes: Uint8Array<ArrayBuffer>): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

const reject = (reason: string): TokenRejection => ({ ok: false, reason });

/** The header's complaint, or undefined when it asks for HS256. */
function headerProblem(header: Record<string, unknown>): string | undefined {
  const alg = header.alg;
  if (alg !== "HS256") {
    // The algorithm name comes from the client: quote it only when it looks like one.
    return typeof alg === "string" && /^[A-Za-z0-9+-]{1,16}$/.test(alg)
      ? `unsupported algorithm '${alg}'`
      : "unsupported algorithm";
  }
  if (header.typ !== undefined && (typeof header.typ !== "string" || header.typ.toUpperCase() !== "JWT")) {
    return "unsupported token type";
  }
  // RFC 7515: a header listing extensions we do not understand must be rejected.
  if (header.crit !== undefined) return "unsupported critical header";
  return undefined;
}

function claimsOf(payload: Record<string, unknown>, nowSeconds: number): VerifiedToken | TokenRejection {
  const { sub, name, exp, nbf, iat } = payload;
  if (sub === undefined) return reject("missing sub");
  if (typeof sub !== "string" || sub === "" || sub.length > MAX_SUB_LENGTH) {
    return reject(`sub must be a non-empty string of at most ${MAX_SUB_LENGTH} characters`);
  }
  if (name !== undefined && typeof name !== "string") return reject("name must be a string");
  for (const [claim, value] of [["exp", exp], ["nbf", nbf], ["iat", iat]] as const) {
    if (value !== undefined && (typeof value !== "number" || !Number.isFinite(value))) {
      return reject(`${claim} must be a number`);
    }
  }
  if (typeof exp === "number" && nowSeconds >= exp + CLOCK_SKEW_SECONDS) return reject("expired");
  if (typeof nbf === "number" && nowSeconds + CLOCK_SKEW_SECONDS < nbf) return reject("not yet valid (nbf)");
  const verified: VerifiedToken = { ok: true, sub };
  if (typeof name === "string") verified.name = name;
  if (typeof exp === "number") verified.exp = exp;
  return verified;
}

/**
 * A verifier for one secret: the key is imported once, each verify() is one HMAC.
 * `now` is injectable (milliseconds, like Date.now) so tests need no sleeps.
 */
export function createTokenVerifier(secret: string, now: () => number = Date.now): TokenVerifier {
  const key = importKey(secret, "verify");
  key.catch(() => {}); // surfaced by the first verify(), not as an unhandled rejection
  return {
    async verify(token) {
      if (token.length > MAX_TOKEN_LENGTH) return reject("token too long");
      const parts = token.split(".");
      if (parts.length !== 3) return reject("malformed token (expected 3 parts)");
      const [headerText, payloadText, signatureText] = parts as [string, string, string];
      const headerBytes = decodeBase64url(headerText);
      const payloadBytes = decodeBase64url(payloadText);
      // The signature may be empty ("alg: none"), so the header decides that case first.
      const signature = signatureText === "" ? new Uint8Array(0) : decodeBase64url(signatureText);
      if (!headerBytes || !payloadBytes || !signature) return reject("malformed token (bad base64url)");
      const header = decodeJsonObject(headerBytes);
      if (!header) return reject("malformed token (header is not a JSON object)");
      const problem = headerProblem(header);
      if (problem) return reject(problem);
      if (signature.length !== SIGNATURE_BYTES) return reject("bad signature");
      // crypto.subtle.verify compares the HMACs in constant time.
      const signedPart = encoder.encode(`${headerText}.${payloadText}`);
      if (!(await crypto.subtle.verify("HMAC", await key, signature, signedPart))) return reject("bad signature");
      const payload = decodeJsonObject(payloadBytes);
      if (!payload) return reject("malformed token (payload is not a JSON object)");
      return claimsOf(payload, now() / 1000);
    },
  };
}

/**
 * When the server must close a connection whose token carries `exp` (seconds):
 * the same instant verify() starts saying "expired", in milliseconds.
 */
export function tokenDeadlineMs(exp: number): number {
  return (exp + CLOCK_SKEW_SECONDS) * 1000;
}

/** A signed HS256 token with `iat`, and `exp` when a lifetime is given. */
export async function mintToken(secret: string, claims: TokenClaims, now: () => number = Date.now): Promise<string> {
  const { sub, name, ttlSeconds } = claims;
  if (sub === "" || sub.length > MAX_SUB_LENGTH) {
    throw new Error(`sub must be a non-empty string of at most ${MAX_SUB_LENGTH} characters`);
  }
  if (ttlSeconds !== undefined && !(Number.isSafeInteger(ttlSeconds) && ttlSeconds > 0)) {
    throw new Error(`ttlSeconds must be a positive whole number (got ${ttlSeconds})`);
  }
  const iat = Math.floor(now() / 1000);
  const payload: Record<string, unknown> = { sub };
  if (name !== undefined) payload.name = name;
  payload.iat = iat;
  if (ttlSeconds !== undefined) payload.exp = iat + ttlSeconds;
  const signedPart = `${encodeBase64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${encodeBase64url(JSON.stringify(payload))}`;
  const key = await importKey(secret, "sign");
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(signedPart)));
  return `${signedPart}.${encodeBase64url(signature)}`;
}

/**
 * The token of an upgrade request: `Authorization: Bearer <token>` (scheme in any
 * case) wins over the `token` query parameter. Undefined when there is neither.
 */
export function extractToken(request: Request): string | undefined {
  const bearer = /^\s*bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "");
  if (bearer?.[1]) return bearer[1];
  let query: URLSearchParams;
  try {
    query = new URL(request.url).searchParams;
  } catch {
    return undefined;
  }
  const fromQuery = query.get("token");
  return fromQuery ? fromQuery : undefined;
}

/**
 * The URL (or path and query) with every `token` query value replaced by REDACTED,
 * for logs. Names are compared decoded, as URLSearchParams does, so `tok%65n=` is
 * caught too; everything else is left exactly as it was.
 */
export function redactToken(url: string): string {
  const start = url.indexOf("?");
  if (start < 0) return url;
  const hash = url.indexOf("#", start);
  const end = hash < 0 ? url.length : hash;
  const query = url
    .slice(start + 1, end)
    .split("&")
    .map((pair) => {
      const equals = pair.indexOf("=");
      const rawName = equals < 0 ? pair : pair.slice(0, equals);
      return decodeQueryName(rawName) === "token" ? `${rawName}=REDACTED` : pair;
    })
    .join("&");
  return `${url.slice(0, start + 1)}${query}${url.slice(end)}`;
}

function decodeQueryName(raw: string): string {
  try {
    return decodeURIComponent(raw.replaceAll("+", " "));
  } catch {
    return raw;
  }
}

const DURATION_UNITS: Record<string, number> = { "": 1, s: 1, m: 60, h: 3600, d: 86_400 };
/** Ten years: longer is surely a typo. */
const MAX_DURATION_SECONDS = 3650 * 86_400;

/**
 * Seconds in "90", "90s", "15m", "1h" or "7d". Throws ConfigError naming `what` (a
 * flag, say), so it fits an option table's `parse` as it is.
 */
export function parseDuration(text: string, what = "the duration"): number {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim());
  const unit = match ? DURATION_UNITS[match[2] ?? ""] : undefined;
  const seconds = match && unit !== undefined ? Number(match[1]) * unit : NaN;
  if (!(seconds > 0 && seconds <= MAX_DURATION_SECONDS)) {
    throw new ConfigError(
      `${what} must be a positive duration like 90, 90s, 15m, 1h or 7d, at most 3650d (got '${text}')`,
    );
  }
  return seconds;
}
