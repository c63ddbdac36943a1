// The CLI client: banner, connection, stdin lines → messages, frames → screen.
// Returns the process exit code instead of exiting, so the entry file stays tiny.
import { clientOptions, ConfigError, helpText, parseClientArgs, type ClientOptions } from "../config.ts";
import type { ServerFrame } from "../protocol.ts";
import { ChatConnection } from "./connection.ts";
import { explainConnectFailure } from "./diagnose.ts";
import { createRenderer } from "./render.ts";
import { sanitize } from "./sanitize.ts";
import { createInteractiveTerminal, createPlainTerminal, type Terminal } from "./terminal.ts";

const USAGE = "Usage: bun run src/client.ts [URL] [options]";
export const PROMPT = 'Enter message (or "exit" to quit): ';
// The original example's banner, word for word.
const BANNER = [
  "WebSocket Client",
  "----------------",
  "Type your message and press Enter to send",
  'Type "exit" to quit',
  "Press Ctrl+C to quit",
];

export async function runClient(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  let options: ClientOptions;
  try {
    options = parseClientArgs(argv, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`error: ${error.message}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${helpText(USAGE, clientOptions)}\n`);
    return 0;
  }
  return new ClientSession(options).run();
}

/** Adds the name and room the user asked for to the upgrade URL. */
export function connectUrl(options: Pick<ClientOptions, "url" | "name" | "room">): string {
  const url = new URL(options.url);
  if (options.name !== undefined) url.searchParams.set("name", options.name);
  if (options.room !== undefined) url.searchParams.set("room", options.room);
  return url.toString();
}

class ClientSession {
  private readonly interactive: boolean;
  private readonly terminal: Terminal;
  /** Human-readable status lines; with --json they go to stderr so stdout stays JSON. */
  private readonly status: (line: string) => void;
  private render = createRenderer({ color: false, selfId: undefined });
  private connection!: ChatConnection;
  /** Lines typed before the connection opened, sent once it does. */
  private readonly queued: string[] = [];
  private inputEnded = false;
  private refused = 0;
  private finish!: (code: number) => void;
  private finished = false;

  constructor(private readonly options: ClientOptions) {
    this.interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY) && !options.json;
    this.terminal = this.interactive ? createInteractiveTerminal(PROMPT) : createPlainTerminal();
    this.status = options.json ? (line) => process.stderr.write(`${line}\n`) : (line) => this.terminal.print(line);
    this.setRenderer(undefined);
  }

  run(): Promise<number> {
    const done = new Promise<number>((resolve) => (this.finish = resolve));
    this.status(`Connecting to ${this.options.url}...`);
    for (const line of BANNER) this.status(line);

    this.terminal.onLine((line) => this.onInput(line));
    this.terminal.onEnd(() => this.endInput());
    this.terminal.onInterrupt(() => void this.quit(0));

    this.connection = new ChatConnection(connectUrl(this.options), {
      onOpen: () => this.onOpen(),
      onFrame: (frame, raw) => this.onFrame(frame, raw),
      onClose: (info) => void this.onClose(info),
    });
    return done;
  }

  private setRenderer(selfId: string | undefined): void {
    const color = process.stdout.isTTY === true && !this.options["no-color"] && !this.options.json;
    this.render = createRenderer({ color, selfId });
  }

  private onOpen(): void {
    this.status("Connected to WebSocket server");
    for (const line of this.queued.splice(0)) this.connection.sendMessage(line);
    this.terminal.prompt();
    this.maybeFinishDraining();
  }

  private onFrame(frame: ServerFrame, raw: string): void {
    if (frame.type === "system" && frame.event === "welcome") this.setRenderer(frame.userId);
    if (frame.type === "error" && frame.ref !== undefined) this.refused++;
    if (this.options.json) {
      process.stdout.write(`${raw}\n`);
    } else {
      const text = this.render(frame);
      if (text !== undefined) this.terminal.print(text);
    }
    this.maybeFinishDraining();
  }

  private onInput(line: string): void {
    if (this.inputEnded) return;
    if (line.trim() === "exit") {
      this.endInput();
      return;
    }
    if (line.trim() !== "") {
      if (this.connection.state === "connected") this.connection.sendMessage(line);
      else this.queued.push(line);
    }
    this.terminal.prompt();
  }

  /**
   * "exit", Ctrl+D or EOF on a pipe: stop reading, then quit once every line sent so
   * far is acknowledged, so nothing typed before "exit" is lost.
   */
  private endInput(): void {
    if (this.inputEnded) return;
    this.inputEnded = true;
    this.terminal.close();
    if (this.connection.state !== "connected" && this.interactive) void this.quit(0);
    else this.maybeFinishDraining();
  }

  private maybeFinishDraining(): void {
    if (!this.inputEnded || this.connection.state !== "connected") return;
    if (this.queued.length === 0 && this.connection.pending.size === 0) {
      // A piped line the server refused was shown as an error; say so in the exit code too.
      void this.quit(this.refused > 0 && !this.interactive ? 1 : 0);
    }
  }

  private async onClose(info: { code: number; reason: string; wasOpen: boolean; byUs: boolean }): Promise<void> {
    if (info.byUs || this.finished) return;
    if (!info.wasOpen) {
      const why = await explainConnectFailure(this.options.url);
      this.fail(`Could not connect to ${this.options.url}: ${why}`);
      return;
    }
    const detail = info.reason ? `${info.code} ${sanitize(info.reason)}` : String(info.code);
    const unsent = this.connection.pending.size + this.queued.length;
    this.fail(`Disconnected from server (${detail})${unsent > 0 ? `; ${unsent} message(s) were not acknowledged` : ""}`);
  }

  private fail(message: string): void {
    this.terminal.close();
    process.stderr.write(`${message}\n`);
    this.end(1);
  }

  private async quit(code: number): Promise<void> {
    if (this.finished) return;
    this.terminal.close();
    await this.connection.close();
    this.end(code);
  }

  private end(code: number): void {
    if (this.finished) return;
    this.finished = true;
    this.finish(code);
  }
}
