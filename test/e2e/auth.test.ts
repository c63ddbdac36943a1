// Authentication and TLS against a real server process.
import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { mintToken } from "../../src/server/auth.ts";
import { cleanup, runCommand, startServer, TestClient } from "../helpers.ts";

setDefaultTimeout(30_000);
afterEach(cleanup);
const SECRET = "a-test-secret-that-is-long-enough-0123456789";

async function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  const response = await fetch(url.replace(/^ws/, "http"), {
    headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", ...headers },
  });
  await response.body?.cancel();
  return response.status;
}

describe("tokens", () => {
  test("without a token, or with a bad one, the upgrade gets 401; the reason is logged, never the token", async () => {
    const server = await startServer(["--auth-secret", SECRET]);
    expect(await upgradeStatus(server.url)).toBe(401);
    const forged = await mintToken("another-secret-that-is-also-long-enough!!", { sub: "mallory" });
    expect(await upgradeStatus(`${server.url}/?token=${forged}`)).toBe(401);
    expect(await upgradeStatus(server.url, { authorization: `Bearer ${forged}` })).toBe(401);
    const expired = await mintToken(SECRET, { sub: "late", ttlSeconds: 1 }, () => Date.now() - 3_600_000);
    expect(await upgradeStatus(`${server.url}/?token=${expired}`)).toBe(401);
    await server.stderr.waitFor("bad token: bad signature");
    await server.stderr.waitFor("bad token: expired");
    for (const token of [forged, expired]) expect(server.stderr.text()).not.toContain(token.split(".")[2]!);
  });

  test("a valid token's sub is the userId and its name the display name; two connections are one user", async () => {
    const server = await startServer(["--auth-secret", SECRET]);
    const token = await mintToken(SECRET, { sub: "alice-42", name: "Alice", ttlSeconds: 600 });
    const viaQuery = await TestClient.connect(`${server.url}/?token=${token}`);
    expect(await viaQuery.welcome()).toMatchObject({ userId: "alice-42", name: "Alice" });
    const viaHeader = new TestClient(server.url, { headers: { authorization: `Bearer ${token}` } });
    await viaHeader.opened;
    expect(await viaHeader.welcome()).toMatchObject({ userId: "alice-42", name: "Alice" });
    const other = await TestClient.connect(`${server.url}/?token=${await mintToken(SECRET, { sub: "bob-7" })}`);
    other.send(JSON.stringify({ type: "who" }));
    const presence = await other.next((f) => f.type === "presence");
    expect(presence).toMatchObject({ users: [{ userId: "alice-42", name: "Alice" }, { userId: "bob-7", name: "bob-7" }] });
    expect(server.stderr.text()).not.toContain(token.split(".")[2]!);
  });

  test("a second terminal of a token user is told its room's past and sends its piped line", async () => {
    const server = await startServer(["--auth-secret", SECRET]);
    const token = await mintToken(SECRET, { sub: "ops-bot", name: "opsbot", ttlSeconds: 600 });
    const first = await TestClient.connect(`${server.url}/?token=${token}`); // an open browser tab, say
    await first.welcome();
    // The CLI waits for its first room's history before sending: it used to wait forever.
    const second = await runCommand(["bun", "src/client.ts", server.url, "--token", token], { stdin: "deploy finished\n", timeoutMs: 10_000 });
    expect(second.code).toBe(0);
    await first.next((f) => f.type === "message" && f.content === "deploy finished");
  });

  test("the connection is closed with 1008 when the token expires", async () => {
    const server = await startServer(["--auth-secret", SECRET]);
    // exp already 29 s in the past: still inside the 30 s skew, so it expires in about a second.
    const token = await mintToken(SECRET, { sub: "brief", ttlSeconds: 1 }, () => Date.now() - 30_000);
    const client = await TestClient.connect(`${server.url}/?token=${token}`);
    await client.welcome();
    const closed = await client.closed;
    expect(closed).toMatchObject({ code: 1008, reason: "token expired" });
  });

  test("the CLI client connects with --token", async () => {
    const server = await startServer(["--auth-secret", SECRET]);
    const token = await mintToken(SECRET, { sub: "cli-user", name: "Cli" });
    const result = await runCommand(["bun", "src/client.ts", server.url, "--token", token], { stdin: "hello with a token\n" });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Cli (you): hello with a token");
    const refused = await runCommand(["bun", "src/client.ts", server.url], { stdin: "" });
    expect(refused.code).toBe(1);
    // The reason the server gave, not just that the handshake failed.
    expect(refused.stderr).toContain(`Could not connect to ${server.url}: the server refused the WebSocket handshake: HTTP 401 Unauthorized: a token is required`);
  });
});

describe("TLS", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "chat-tls-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("--tls-cert/--tls-key serve wss://, and the client connects with --insecure", async () => {
    const cert = path.join(dir, "cert.pem");
    const key = path.join(dir, "key.pem");
    const made = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"], { stderr: "pipe" });
    expect(made.exitCode).toBe(0);
    const server = await startServer(["--tls-cert", cert, "--tls-key", key]);
    const url = `wss://127.0.0.1:${server.port}`;
    const result = await runCommand(["bun", "src/client.ts", url, "--insecure"], { stdin: "over tls\n" });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("(you): over tls");
    // Without --insecure the self-signed certificate is refused, with a line naming the URL.
    const refused = await runCommand(["bun", "src/client.ts", url], { stdin: "" });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`Could not connect to ${url}`);
  });

  test("--tls-cert without --tls-key is a usage error", async () => {
    const result = await runCommand(["bun", "src/server.ts", "--tls-cert", "x.pem"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--tls-key");
  });
});
