// Entry point of the command-line client.
import { runClient } from "./client/run-client.ts";

const code = await runClient(Bun.argv.slice(2), process.env);
process.exit(code);
