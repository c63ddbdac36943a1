import { describe, expect, test } from "bun:test";
import { ConfigError } from "../../../src/config.ts";
import {
  CLOCK_SKEW_SECONDS,
  createTokenVerifier,
  extractToken,
  MAX_TOKEN_LENGTH,
  mintToken,
  parseDuration,
  redactToken,
  tokenDeadlineMs,
  type TokenRejection,
  type VerifiedToken,
} from "../../../src/server/auth.ts";

const SECRET = "correct horse battery staple";
const NOW = Date.UTC(2030, 0, 1); // milliseconds
const NOW_SECONDS = NOW / 1000;
const clock = (ms: number) => () => ms;

const b64url = (text: string) => Buffer.from(text).toString("base64url");

/** Signs any header and payload text with HS256, so tests can build tokens mintToken never would. */
async function signRaw(header: string, payload: string, secret = SECRET): Promise<string> {
  const signedPart = `${header}.${payload}`;
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const signature = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(signedPart));
  return `${signedPart}.${Buffer.from(signature).toString("base64url")}`;
}

const HS256 = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
const signClaims = (claims: unknown, secret = SECRET) => signRaw(HS256, b64url(JSON.stringify(claims)), secret);

async function verify(token: string, now = NOW): Promise<VerifiedToken | TokenRejection> {
  return createTokenVerifier(SECRET, clock(now)).verify(token);
}

async function reason(token: string, now = NOW): Promise<string> {
  const result = await verify(token, now);
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result)}`);
  if (token !== "") expect(result.reason).not.toContain(token);
  return result.reason;
}

describe("mintToken and verify", () => {
  test("a minted token verifies with the same secret and carries sub, name and exp", async () => {
    const token = await mintToken(SECRET, { sub: "alice", name: "Alice", ttlSeconds: 3600 }, clock(NOW));
    expect(await verify(token)).toEqual({ ok: true, sub: "alice", name: "Alice", exp: NOW_SECONDS + 3600 });
  });

  test("a token minted without a ttl has iat but no exp and never expires", async () => {
    const token = await mintToken(SECRET, { sub: "bob" }, clock(NOW));
    const payload = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as Record<string, unknown>;
    expect(payload).toEqual({ sub: "bob", iat: NOW_SECONDS });
    expect(await verify(token, NOW + 100 * 365 * 86_400_000)).toEqual({ ok: true, sub: "bob" });
  });

  test("the header says HS256 and JWT", async () => {
    const token = await mintToken(SECRET, { sub: "alice" }, clock(NOW));
    expect(JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString())).toEqual({ alg: "HS256", typ: "JWT" });
  });

  test("one verifier checks many tokens", async () => {
    const verifier = createTokenVerifier(SECRET, clock(NOW));
    const tokens = await Promise.all(["a", "b", "c"].map((sub) => mintToken(SECRET, { sub }, clock(NOW))));
    const results = await Promise.all(tokens.map((token) => verifier.verify(token)));
    expect(results.map((r) => (r.ok ? r.sub : r.reason))).toEqual(["a", "b", "c"]);
  });

  test("mintToken refuses an empty or too long sub and a non-positive ttl", async () => {
    await expect(mintToken(SECRET, { sub: "" })).rejects.toThrow("sub");
    await expect(mintToken(SECRET, { sub: "x".repeat(65) })).rejects.toThrow("sub");
    await expect(mintToken(SECRET, { sub: "a", ttlSeconds: 0 })).rejects.toThrow("ttlSeconds");
    await expect(mintToken(SECRET, { sub: "a", ttlSeconds: 1.5 })).rejects.toThrow("ttlSeconds");
  });

  test("an empty secret is refused at once, for verifying and minting", async () => {
    expect(() => createTokenVerifier("")).toThrow("secret must not be empty");
    await expect(mintToken("", { sub: "a" })).rejects.toThrow("secret must not be empty");
  });

  test("a token without typ is accepted; typ is compared without case", async () => {
    const noTyp = b64url(JSON.stringify({ alg: "HS256" }));
    expect(await verify(await signRaw(noTyp, b64url(JSON.stringify({ sub: "a" }))))).toEqual({ ok: true, sub: "a" });
    const lower = b64url(JSON.stringify({ alg: "HS256", typ: "jwt" }));
    expect((await verify(await signRaw(lower, b64url(JSON.stringify({ sub: "a" }))))).ok).toBe(true);
  });
});

describe("rejections", () => {
  test("a tampered payload has a bad signature", async () => {
    const [header, , signature] = (await signClaims({ sub: "alice" })).split(".");
    expect(await reason(`${header}.${b64url(JSON.stringify({ sub: "admin" }))}.${signature}`)).toBe("bad signature");
  });

  test("a tampered signature is a bad signature", async () => {
    const token = await signClaims({ sub: "alice" });
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const bytes = Buffer.from(signature, "base64url");
    bytes[0] = bytes[0]! ^ 1;
    expect(await reason(`${header}.${payload}.${bytes.toString("base64url")}`)).toBe("bad signature");
  });

  test("a signature of the wrong length is a bad signature", async () => {
    const [header, payload] = (await signClaims({ sub: "alice" })).split(".");
    expect(await reason(`${header}.${payload}.${b64url("short")}`)).toBe("bad signature");
    expect(await reason(`${header}.${payload}.`)).toBe("bad signature");
  });

  test("a token signed with another secret has a bad signature", async () => {
    expect(await reason(await mintToken("another secret", { sub: "alice" }, clock(NOW)))).toBe("bad signature");
  });

  test("alg none with an empty signature is refused by name", async () => {
    const none = b64url(JSON.stringify({ alg: "none", typ: "JWT" }));
    expect(await reason(`${none}.${b64url(JSON.stringify({ sub: "alice" }))}.`)).toBe("unsupported algorithm 'none'");
  });

  test("HS512 and RS256 headers are refused even when signed with the secret", async () => {
    for (const alg of ["HS512", "RS256"]) {
      const header = b64url(JSON.stringify({ alg, typ: "JWT" }));
      expect(await reason(await signRaw(header, b64url(JSON.stringify({ sub: "alice" }))))).toBe(`unsupported algorithm '${alg}'`);
    }
  });

  test("a missing or odd-looking alg is refused without quoting it", async () => {
    for (const header of [{ typ: "JWT" }, { alg: 256 }, { alg: "<script>alert(1)</script>" }]) {
      expect(await reason(await signRaw(b64url(JSON.stringify(header)), b64url('{"sub":"a"}')))).toBe("unsupported algorithm");
    }
  });

  test("a typ other than JWT and a crit header are refused", async () => {
    const jwe = b64url(JSON.stringify({ alg: "HS256", typ: "JWE" }));
    expect(await reason(await signRaw(jwe, b64url('{"sub":"a"}')))).toBe("unsupported token type");
    const crit = b64url(JSON.stringify({ alg: "HS256", crit: ["exp"] }));
    expect(await reason(await signRaw(crit, b64url('{"sub":"a"}')))).toBe("unsupported critical header");
  });

  test("two parts and four parts are malformed", async () => {
    const token = await signClaims({ sub: "alice" });
    const [header, payload] = token.split(".");
    expect(await reason(`${header}.${payload}`)).toBe("malformed token (expected 3 parts)");
    expect(await reason(`${token}.extra`)).toBe("malformed token (expected 3 parts)");
    expect(await reason("")).toBe("malformed token (expected 3 parts)");
  });

  test("characters outside base64url, padding and non-canonical spellings are malformed", async () => {
    const token = await signClaims({ sub: "alice" });
    const [header, payload, signature] = token.split(".") as [string, string, string];
    expect(await reason(`${header}+/.${payload}.${signature}`)).toBe("malformed token (bad base64url)");
    // Standard base64 with '/' and '=' padding, correctly signed: only the alphabet is wrong.
    const standardBase64 = Buffer.from(JSON.stringify({ alg: "HS256", x: "?" })).toString("base64");
    expect(standardBase64).toMatch(/\/.*=$/);
    expect(await reason(await signRaw(standardBase64, payload))).toBe("malformed token (bad base64url)");
    expect(await reason(`${header}.${payload}.${signature}=`)).toBe("malformed token (bad base64url)");
    // 43 characters carry 258 bits for 256: a last character with the spare bits set
    // decodes to the same bytes, a second spelling of the same token.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const spelledOtherwise = signature.slice(0, -1) + alphabet[alphabet.indexOf(signature.at(-1)!) | 1];
    expect(Buffer.from(spelledOtherwise, "base64url")).toEqual(Buffer.from(signature, "base64url"));
    expect(await reason(`${header}.${payload}.${spelledOtherwise}`)).toBe("malformed token (bad base64url)");
    expect(await reason(`.${payload}.${signature}`)).toBe("malformed token (bad base64url)");
  });

  test("a header or payload that is not JSON is malformed", async () => {
    expect(await reason(await signRaw(b64url("not json"), b64url('{"sub":"a"}')))).toBe(
      "malformed token (header is not a JSON object)",
    );
    expect(await reason(await signRaw(HS256, b64url("not json")))).toBe("malformed token (payload is not a JSON object)");
  });

  test("a payload that is an array, a string or null is malformed", async () => {
    for (const payload of ['["sub","a"]', '"a"', "null", "42"]) {
      expect(await reason(await signRaw(HS256, b64url(payload)))).toBe("malformed token (payload is not a JSON object)");
    }
  });

  test("a header that is an array is malformed", async () => {
    expect(await reason(await signRaw(b64url('["HS256"]'), b64url('{"sub":"a"}')))).toBe(
      "malformed token (header is not a JSON object)",
    );
  });

  test("a missing sub is refused", async () => {
    expect(await reason(await signClaims({ name: "Alice" }))).toBe("missing sub");
  });

  test("an empty, too long or non-string sub is refused", async () => {
    const expected = "sub must be a non-empty string of at most 64 characters";
    for (const sub of ["", "x".repeat(65), 42, null, ["a"]]) expect(await reason(await signClaims({ sub }))).toBe(expected);
    expect(await verify(await signClaims({ sub: "x".repeat(64) }))).toEqual({ ok: true, sub: "x".repeat(64) });
  });

  test("a name, exp, nbf or iat of the wrong type is refused", async () => {
    expect(await reason(await signClaims({ sub: "a", name: 7 }))).toBe("name must be a string");
    expect(await reason(await signClaims({ sub: "a", exp: "tomorrow" }))).toBe("exp must be a number");
    expect(await reason(await signClaims({ sub: "a", nbf: null }))).toBe("nbf must be a number");
    expect(await reason(await signClaims({ sub: "a", iat: "now" }))).toBe("iat must be a number");
  });

  test("a token expired beyond the clock skew is refused", async () => {
    const token = await mintToken(SECRET, { sub: "a", ttlSeconds: 60 }, clock(NOW));
    expect(await reason(token, NOW + (60 + CLOCK_SKEW_SECONDS) * 1000)).toBe("expired");
    expect(await reason(token, NOW + 86_400_000)).toBe("expired");
  });

  test("a token expired within the clock skew is still accepted", async () => {
    const token = await mintToken(SECRET, { sub: "a", ttlSeconds: 60 }, clock(NOW));
    expect((await verify(token, NOW + 60_000)).ok).toBe(true);
    expect((await verify(token, NOW + (60 + CLOCK_SKEW_SECONDS) * 1000 - 1)).ok).toBe(true);
  });

  test("a token whose nbf is beyond the skew in the future is not yet valid; within the skew it is", async () => {
    expect(await reason(await signClaims({ sub: "a", nbf: NOW_SECONDS + CLOCK_SKEW_SECONDS + 1 }))).toBe("not yet valid (nbf)");
    expect((await verify(await signClaims({ sub: "a", nbf: NOW_SECONDS + CLOCK_SKEW_SECONDS }))).ok).toBe(true);
  });

  test("a token longer than 4096 characters is refused before it is parsed", async () => {
    const padded = await signClaims({ sub: "a", pad: "x".repeat(MAX_TOKEN_LENGTH) });
    expect(await reason(padded)).toBe("token too long");
    expect(await reason("x".repeat(MAX_TOKEN_LENGTH + 1))).toBe("token too long");
  });

  test("a token of exactly 4096 characters is still verified", async () => {
    const base = await signClaims({ sub: "a", pad: "" });
    const pad = "x".repeat(Math.floor(((MAX_TOKEN_LENGTH - base.length) * 3) / 4));
    let token = await signClaims({ sub: "a", pad });
    while (token.length > MAX_TOKEN_LENGTH) token = await signClaims({ sub: "a", pad: pad.slice(0, pad.length - (token.length - MAX_TOKEN_LENGTH)) });
    expect(token.length).toBeLessThanOrEqual(MAX_TOKEN_LENGTH);
    expect(token.length).toBeGreaterThan(MAX_TOKEN_LENGTH - 4);
    expect((await verify(token)).ok).toBe(true);
  });
});

describe("tokenDeadlineMs", () => {
  test("is the first millisecond at which verify says expired", async () => {
    const token = await mintToken(SECRET, { sub: "a", ttlSeconds: 10 }, clock(NOW));
    const verified = await verify(token);
    if (!verified.ok || verified.exp === undefined) throw new Error("expected a token with exp");
    const deadline = tokenDeadlineMs(verified.exp);
    expect((await verify(token, deadline - 1)).ok).toBe(true);
    expect(await reason(token, deadline)).toBe("expired");
  });
});

describe("extractToken", () => {
  const at = (query: string, headers: Record<string, string> = {}) => new Request(`http://chat.test/${query}`, { headers });

  test("reads the token query parameter", () => {
    expect(extractToken(at("?token=abc.def.ghi&name=ann"))).toBe("abc.def.ghi");
  });

  test("reads an Authorization Bearer header, scheme in any case", () => {
    expect(extractToken(at("", { Authorization: "Bearer abc.def.ghi" }))).toBe("abc.def.ghi");
    expect(extractToken(at("", { authorization: "bearer   abc.def.ghi " }))).toBe("abc.def.ghi");
    expect(extractToken(at("", { Authorization: "BEARER abc" }))).toBe("abc");
  });

  test("the header wins when both are given", () => {
    expect(extractToken(at("?token=from-query", { Authorization: "Bearer from-header" }))).toBe("from-header");
  });

  test("another scheme in the header falls back to the query parameter", () => {
    expect(extractToken(at("?token=from-query", { Authorization: "Basic dXNlcjpwYXNz" }))).toBe("from-query");
    expect(extractToken(at("", { Authorization: "Basic dXNlcjpwYXNz" }))).toBeUndefined();
  });

  test("no token, an empty one or a bare Bearer is undefined", () => {
    expect(extractToken(at(""))).toBeUndefined();
    expect(extractToken(at("?token="))).toBeUndefined();
    expect(extractToken(at("?name=ann"))).toBeUndefined();
    expect(extractToken(at("", { Authorization: "Bearer" }))).toBeUndefined();
  });
});

describe("redactToken", () => {
  test("replaces the token value in a full URL and keeps everything else", () => {
    expect(redactToken("ws://chat.test:8080/?name=ann&token=abc.def.ghi&room=x")).toBe(
      "ws://chat.test:8080/?name=ann&token=REDACTED&room=x",
    );
  });

  test("works on a path with a query, with the token first or last, and with a fragment", () => {
    expect(redactToken("/?token=abc")).toBe("/?token=REDACTED");
    expect(redactToken("/chat?token=abc#frag")).toBe("/chat?token=REDACTED#frag");
    expect(redactToken("/?a=1&token=abc")).toBe("/?a=1&token=REDACTED");
  });

  test("replaces every token parameter, including a percent-encoded name", () => {
    expect(redactToken("/?token=one&token=two")).toBe("/?token=REDACTED&token=REDACTED");
    expect(redactToken("/?tok%65n=secret")).toBe("/?tok%65n=REDACTED");
  });

  test("leaves URLs without a token alone, including look-alike names", () => {
    for (const url of ["/", "/?name=ann", "/?mytoken=abc&token_type=x", "ws://h/path"]) expect(redactToken(url)).toBe(url);
  });
});

describe("parseDuration", () => {
  test("reads plain seconds and s, m, h, d suffixes", () => {
    expect(parseDuration("90")).toBe(90);
    expect(parseDuration("90s")).toBe(90);
    expect(parseDuration("15m")).toBe(900);
    expect(parseDuration("1h")).toBe(3600);
    expect(parseDuration("7d")).toBe(604_800);
    expect(parseDuration(" 2h ")).toBe(7200);
  });

  test("refuses anything else with a ConfigError naming what was being read", () => {
    for (const bad of ["", "0", "0s", "-5", "1.5h", "1w", "h", "1 h", "1H", "ten", "1h30m", "99999d"]) {
      expect(() => parseDuration(bad, "--ttl")).toThrow(ConfigError);
      expect(() => parseDuration(bad, "--ttl")).toThrow(`--ttl must be a positive duration like 90, 90s, 15m, 1h or 7d, at most 3650d (got '${bad}')`);
    }
    expect(() => parseDuration("soon")).toThrow("the duration must be");
  });
});
