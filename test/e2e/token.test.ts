// The token command as a user runs it: `bun src/token.ts --sub alice --ttl 1h`.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createTokenVerifier } from "../../src/server/auth.ts";
import { cleanup, runCommand } from "../helpers.ts";

setDefaultTimeout(20_000);
afterAll(cleanup);

const SECRET = "e2e secret";
/** The command with CHAT_AUTH_SECRET cleared, so the developer's own environment cannot leak in. */
const token = (args: string[], env: Record<string, string> = {}) =>
  runCommand(["bun", "src/token.ts", ...args], { env: { CHAT_AUTH_SECRET: "", ...env } });

function payloadOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString()) as Record<string, unknown>;
}

describe("bun src/token.ts", () => {
  test("prints only a token, which verifies with the same secret from CHAT_AUTH_SECRET", async () => {
    const result = await token(["--sub", "alice", "--name", "Alice"], { CHAT_AUTH_SECRET: SECRET });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const verified = await createTokenVerifier(SECRET).verify(result.stdout.trim());
    expect(verified).toMatchObject({ ok: true, sub: "alice", name: "Alice" });
    expect((await createTokenVerifier("another secret").verify(result.stdout.trim())).ok).toBe(false);
  });

  test("--secret works as well as the env var and wins over it", async () => {
    const result = await token(["--sub", "bob", "--secret", SECRET], { CHAT_AUTH_SECRET: "ignored" });
    expect(result.code).toBe(0);
    expect(await createTokenVerifier(SECRET).verify(result.stdout.trim())).toMatchObject({ ok: true, sub: "bob" });
  });

  test("--ttl 1h sets exp about an hour from now", async () => {
    const before = Math.floor(Date.now() / 1000);
    const result = await token(["--sub", "alice", "--ttl", "1h", "--secret", SECRET]);
    const after = Math.ceil(Date.now() / 1000);
    expect(result.code).toBe(0);
    const { exp, iat } = payloadOf(result.stdout.trim());
    expect(exp).toBe((iat as number) + 3600);
    expect(iat).toBeGreaterThanOrEqual(before);
    expect(iat).toBeLessThanOrEqual(after);
  });

  test("without --ttl the token lives an hour", async () => {
    const result = await token(["--sub", "alice", "--secret", SECRET]);
    const { exp, iat } = payloadOf(result.stdout.trim());
    expect(exp).toBe((iat as number) + 3600);
  });

  test("without a secret it exits 2 with one line naming --secret and CHAT_AUTH_SECRET", async () => {
    const result = await token(["--sub", "alice"]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe("error: a secret is required: pass --secret or set CHAT_AUTH_SECRET\n");
  });

  test("without --sub it exits 2 naming --sub", async () => {
    const result = await token(["--secret", SECRET]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain("--sub is required");
  });

  test("a bad --ttl exits 2 with one line naming --ttl", async () => {
    for (const ttl of ["1x", "0", "soon"]) {
      const result = await token(["--sub", "alice", "--ttl", ttl, "--secret", SECRET]);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).toBe(`error: --ttl must be a positive duration like 90, 90s, 15m, 1h or 7d, at most 3650d (got '${ttl}')\n`);
    }
  });

  test("a --name the server would refuse exits 2 naming --name", async () => {
    const result = await token(["--sub", "alice", "--name", "two words", "--secret", SECRET]);
    expect(result.code).toBe(2);
    expect(result.stderr).toStartWith("error: --name: ");
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
  });

  test("an unknown flag exits 2 with one line", async () => {
    const result = await token(["--sub", "alice", "--secret", SECRET, "--expires", "1h"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("error: unknown option --expires (see --help)\n");
  });

  test("--help exits 0 and lists every option with its default", async () => {
    const result = await token(["--help"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toStartWith("Usage: bun run src/token.ts --sub USER_ID [options]");
    for (const flag of ["--sub USER_ID", "--name NAME", "--ttl DURATION", "--secret SECRET", "--help"]) {
      expect(result.stdout).toContain(flag);
    }
    expect(result.stdout).toContain("(default: 3600)");
    expect(result.stdout).toContain("[env CHAT_AUTH_SECRET]");
  });
});
