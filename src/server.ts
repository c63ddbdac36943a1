// Entry point: read flags and env, start the chat server, print the listening line,
// shut down cleanly on SIGINT/SIGTERM.
import { ConfigError, helpText, parseServerArgs, serverOptions, type ServerOptions } from "./config.ts";
import type { ChatServer } from "./server/chat-server.ts";
import { createLogger } from "./server/log.ts";
import { startChatServer, StartupError } from "./server/setup.ts";

const USAGE = "Usage: bun run src/server.ts [options]";

async function main(): Promise<void> {
  let options: ServerOptions;
  try {
    options = parseServerArgs(Bun.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`error: ${error.message}`);
    process.exit(2);
  }
  if (options.help) {
    console.log(helpText(USAGE, serverOptions));
    return;
  }

  const log = createLogger({ level: options["log-level"], format: options["log-format"] });
  let chat: ChatServer;
  try {
    chat = await startChatServer(options, log);
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    console.error(`error: ${error.message}`);
    process.exit(error.exitCode);
  }

  let signalled = false;
  const stop = (signal: string) => {
    if (signalled) process.exit(1); // a second Ctrl+C means "now"
    signalled = true;
    log.info("shutdown", { signal, connections: chat.connectionCount() });
    chat.shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error("shutdown_failed", { message: String(error) });
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));

  // The original example's line, kept word for word: scripts and people wait for it.
  // Printed after the signal handlers exist, so a SIGTERM right after it is handled.
  console.log(`WebSocket server is listening on port ${chat.port}`);
}

await main();
