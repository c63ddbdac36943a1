// Entry point of the command-line client.
import { runClient } from "./client/run-client.ts";

const code = await runClient(Bun.argv.slice(2), process.env);
// Bun keeps what a pipe has not taken yet in a buffer of its own, and process.exit drops
// it: the last lines of a long piped output went missing. Ending a stream waits until
// it is flushed; a reader that stopped reading holds the exit 2 s at most.
const flushed = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => stream.end(() => resolve()));
await Promise.race([Promise.all([flushed(process.stdout), flushed(process.stderr)]), Bun.sleep(2000)]);
process.exit(code);
