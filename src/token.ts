// Entry point of the token command: mints an HS256 token for a server started with
// --auth-secret and prints it alone on stdout, so `--token "$(bun run src/token.ts ...)"` works.
import { ConfigError, helpText, readOptions } from "./config.ts";
import { nameProblem } from "./protocol.ts";
import { MAX_SUB_LENGTH, mintToken, parseDuration } from "./server/auth.ts";

const USAGE = "Usage: bun run src/token.ts --sub USER_ID [options]";

const tokenOptions = {
  sub: { kind: "string", default: undefined as string | undefined, arg: "USER_ID", parse: userId,
    help: "the userId the token stands for (required)" },
  name: { kind: "string", default: undefined as string | undefined, arg: "NAME", parse: displayName,
    help: "display name carried by the token (default: none; the server picks one)" },
  ttl: { kind: "string", default: 3600, arg: "DURATION", parse: parseDuration,
    help: "how long the token is valid, in seconds or like 90s, 15m, 1h, 7d" },
  secret: { kind: "string", env: "CHAT_AUTH_SECRET", default: undefined as string | undefined, arg: "SECRET",
    help: "the server's --auth-secret (prefer the env var: flags show up in ps)" },
  help: { kind: "boolean", default: false, help: "show this help and exit" },
} satisfies Parameters<typeof helpText>[1];

function userId(raw: string, flag: string): string {
  if (raw.trim() === "" || raw.length > MAX_SUB_LENGTH) {
    throw new ConfigError(`${flag} must be 1 to ${MAX_SUB_LENGTH} characters (got '${raw}')`);
  }
  return raw;
}

function displayName(raw: string, flag: string): string {
  const problem = nameProblem(raw);
  if (problem) throw new ConfigError(`${flag}: ${problem} (got '${raw}')`);
  return raw;
}

/** A usage mistake: one line on stderr, exit 2, as the server and client do. */
function fail(message: string): never {
  console.error(`error: ${message}`);
  process.exit(2);
}

async function main(): Promise<void> {
  let options;
  try {
    options = readOptions(tokenOptions, Bun.argv.slice(2), process.env).values;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    fail(error.message);
  }
  if (options.help) {
    console.log(helpText(USAGE, tokenOptions));
    return;
  }
  if (options.sub === undefined) fail("--sub is required (the userId the token stands for)");
  if (options.secret === undefined) fail("a secret is required: pass --secret or set CHAT_AUTH_SECRET");
  const claims = { sub: options.sub, ttlSeconds: options.ttl, ...(options.name === undefined ? {} : { name: options.name }) };
  console.log(await mintToken(options.secret, claims));
}

await main();
