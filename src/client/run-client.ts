// The CLI client: banner, connection, stdin lines → frames, frames → screen.
// Returns the process exit code instead of exiting, so the entry file stays tiny.
import { clientOptions, ConfigError, helpText, parseClientArgs, type ClientOptions } from "../config.ts";
import type { MessageFrame, ServerFrame } from "../protocol.ts";
import { sanitize } from "../sanitize.ts";
import { complete, helpLines, isCommand, parseInput } from "./commands.ts";
import { ChatConnection } from "./connection.ts";
import { explainConnectFailure } from "./diagnose.ts";
import { createRenderer } from "./render.ts";
import { ClientState, type OlderPage } from "./state.ts";
import { createInteractiveTerminal, createPlainTerminal, type Terminal } from "./terminal.ts";
import { askForOlder, olderAnswered } from "./paging.ts";
import { rejoinAndResend } from "./resume.ts";

/** How long piped mode waits, after the last ack, for its own lines to come back (a cluster may deliver them after the ack). */
const ECHO_WAIT_MS = 2000;

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

/** The upgrade URL: the name and room asked for, and the session to resume once there is one. */
export function connectUrl(options: Pick<ClientOptions, "url" | "name" | "room">, session?: string): string {
  const url = new URL(options.url);
  if (options.name !== undefined) url.searchParams.set("name", options.name);
  if (options.room !== undefined) url.searchParams.set("room", options.room);
  if (session !== undefined) url.searchParams.set("session", session);
  return url.toString();
}

class ClientSession {
  private readonly interactive: boolean;
  private readonly terminal: Terminal;
  /** Human-readable status lines; with --json they go to stderr so stdout stays JSON. */
  private readonly status: (line: string) => void;
  private readonly state = new ClientState();
  private render = createRenderer({ color: false, selfId: undefined });
  private connection!: ChatConnection;
  /** Input lines not handled yet: they wait for the welcome, and commands for earlier acks. */
  private readonly input: string[] = [];
  /** Welcomed (and, after a reconnect, rooms re-joined): input may be sent. */
  private ready = false;
  private reconnected = false;
  private session: string | undefined;
  /** The session the current connection asked to resume. */
  private askedSession: string | undefined;
  /** A fresh (not resumed) connection is caught up once the history of its first room is in. */
  private catchingUp: string | undefined;
  /** Refs of the re-joins sent after a reconnect, by room: their answer ends the replay. */
  private readonly rejoins = new Map<string, string>();
  /** The newest id the server acked for our own lines, per room (see maybeFinish). */
  private readonly ackedIds = new Map<string, number>();
  private echoTimer: ReturnType<typeof setTimeout> | undefined;
  private echoWaitOver = false;
  /** The ref of the last /join or /leave sent: lines after it wait for its answer. */
  private moving: string | undefined;
  private inputEnded = false;
  private refused = 0;
  private finish!: (code: number) => void;
  private finished = false;

  constructor(private readonly options: ClientOptions) {
    this.interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY) && !options.json;
    this.terminal = this.interactive
      ? createInteractiveTerminal(PROMPT, (line) => complete(line, this.state.names))
      : createPlainTerminal();
    this.status = options.json ? (line) => process.stderr.write(`${line}\n`) : (line) => this.terminal.print(line);
    this.updateView();
  }

  run(): Promise<number> {
    const done = new Promise<number>((resolve) => (this.finish = resolve));
    this.status(`Connecting to ${this.options.url}...`);
    for (const line of BANNER) this.status(line);

    this.terminal.onLine((line) => {
      if (this.inputEnded) return;
      // "exit" or /quit typed while the server is away quits now, as Ctrl+D does: queued
      // behind lines waiting for a connection, it waited as long as the server stayed away.
      if (this.interactive && this.connection.state !== "connected" && this.isQuit(line)) {
        this.endInput();
        return;
      }
      this.input.push(line);
      this.pump();
      // Still queued (it is the last line: the server is away, or earlier lines wait for
      // answers): a fresh prompt all the same, so what is typed next is not left bare.
      if (this.interactive && this.input.length > 0 && !this.inputEnded) this.terminal.prompt();
    });
    this.terminal.onEnd(() => this.endInput());
    this.terminal.onInterrupt(() => void this.quit(0));

    this.connection = new ChatConnection(
      // After the first welcome: resume that session, and ask for the current name and
      // room in case the session expired meanwhile (or the server still holds the old connection).
      () => {
        this.askedSession = this.session;
        return connectUrl({ ...this.options, name: this.state.self?.name ?? this.options.name, room: this.state.roomToAsk(this.options.room) }, this.session);
      },
      {
        onOpen: (again) => this.onOpen(again),
        onFrame: (frame, raw) => this.onFrame(frame, raw),
        onClose: (info) => void this.onClose(info),
        onReconnecting: (info) => this.onReconnecting(info),
      },
      {
        reconnect: !this.options["no-reconnect"],
        retryInitial: this.options.retry,
        token: this.options.token,
        insecure: this.options.insecure,
      },
    );
    return done;
  }

  /** Re-derives what depends on who we are and where: the renderer and the prompt. */
  private updateView(): void {
    // Colours only for a person at a terminal: with stdin or stdout piped, plain lines (README).
    const color = this.interactive && !this.options["no-color"];
    const { self, rooms, currentRoom } = this.state;
    this.render = createRenderer({ color, selfId: self?.userId, showRoom: rooms.length > 1 });
    const where = self === undefined ? "" : `[${sanitize(self.name)}${currentRoom === undefined ? "" : ` #${currentRoom}`}] `;
    this.terminal.setPrompt(`${where}${PROMPT}`);
  }

  private onOpen(again: boolean): void {
    this.status(again ? "Reconnected to WebSocket server" : "Connected to WebSocket server");
    this.reconnected = again;
    this.terminal.prompt();
  }

  private onReconnecting(info: { attempt: number; delayMs: number; code: number }): void {
    this.ready = false;
    const seconds = (info.delayMs / 1000).toFixed(1);
    // With --retry the first connection may never have been made: nothing was lost yet.
    if (this.state.self === undefined) this.status(`Could not connect to ${this.options.url}; trying again in ${seconds} s, attempt ${info.attempt}`);
    else this.status(`Connection lost (${info.code}); reconnecting in ${seconds} s, attempt ${info.attempt}`);
  }

  private onFrame(frame: ServerFrame, raw: string): void {
    const welcome = frame.type === "system" && frame.event === "welcome" ? frame : undefined;
    const roomsBefore = [...this.state.rooms];
    const selfBefore = this.state.self;
    if (this.state.apply(frame)) this.updateView();
    if (frame.type === "ack" && frame.id !== undefined && frame.room !== undefined) {
      this.ackedIds.set(frame.room, Math.max(this.ackedIds.get(frame.room) ?? 0, frame.id));
    }
    const retried = frame.type === "error" && frame.ref !== undefined && this.connection.isPending(frame.ref);
    if (frame.type === "error" && frame.ref !== undefined && !retried) this.refused++;
    if (retried) this.status(`The server asked to slow down (${frame.code}); sending again shortly`);
    else this.show(frame, raw);
    // A re-join refused for now is sent again: its replay goes on until the final answer.
    const rejoined = (frame.type === "ack" || frame.type === "error") && frame.ref !== undefined && !retried ? this.rejoins.get(frame.ref) : undefined;
    if (rejoined !== undefined) {
      this.rejoins.delete((frame as { ref: string }).ref);
      this.showHeld(this.state.endReplay(rejoined));
    }
    const older = olderAnswered(this.state, frame, retried);
    if (older !== undefined) this.showOlder(older, frame.type === "error");
    if (welcome !== undefined) {
      const fresh = welcome.session !== this.askedSession;
      this.connection.setRateLimit(welcome.limits.rate, welcome.limits.burst);
      this.session = welcome.session;
      if (this.reconnected) this.resume(roomsBefore, selfBefore?.userId !== welcome.userId);
      // Input waits until a fresh connection has its history, so /history pages from there.
      this.catchingUp = fresh ? welcome.rooms[0] : undefined;
      this.ready = this.catchingUp === undefined;
    }
    if (frame.type === "history" && frame.room === this.catchingUp) {
      this.catchingUp = undefined;
      this.ready = true;
    }
    this.pump();
  }

  private show(frame: ServerFrame, raw: string): void {
    if (this.state.isRejoinNoise(frame)) return;
    // Held frames are shown, whole, when their request is answered (showHeld, showOlder).
    const held = this.state.holds(frame);
    // Messages are shown once each, however often a reconnect replays them, with --json too.
    const messages = frame.type === "message" || frame.type === "history" ? this.state.toShow(frame) : undefined;
    if (this.options.json) {
      if (held) return;
      if (frame.type === "message") {
        if (messages!.length > 0) process.stdout.write(`${raw}\n`);
      } else if (frame.type !== "history" || messages!.length === frame.messages.length) {
        process.stdout.write(`${raw}\n`);
      } else if (messages!.length > 0) {
        process.stdout.write(`${JSON.stringify({ ...frame, messages })}\n`);
      }
      return;
    }
    if (messages === undefined) {
      const text = this.render(frame);
      if (text !== undefined) this.terminal.print(text);
      return;
    }
    for (const message of messages) this.terminal.print(this.render(message)!);
  }

  /** A re-join's replay, held back until its answer: with --json, one message frame each. */
  private showHeld(messages: MessageFrame[]): void {
    for (const message of messages) {
      if (this.options.json) process.stdout.write(`${JSON.stringify(message)}\n`);
      else this.terminal.print(this.render(message)!);
    }
  }

  /** A /history page, whole: with --json as one history frame; else its lines, after a note when nothing older exists. */
  private showOlder(page: OlderPage, refused: boolean): void {
    const { room, messages, complete } = page;
    if (this.options.json) {
      if (!refused) process.stdout.write(`${JSON.stringify({ type: "history", room, messages, complete, timestamp: new Date().toISOString() })}\n`);
      return;
    }
    if (complete) this.status(messages.length === 0 ? `No older messages in #${room}` : `-- the beginning of #${room} --`);
    for (const message of messages) this.terminal.print(this.render(message)!);
  }

  /**
   * After a reconnect: re-join every room we were in, asking for what came after the
   * last message we saw, then send again what the server never answered (same refs:
   * it acks a repeated ref without storing it twice).
   */
  private resume(rooms: string[], newIdentity: boolean): void {
    if (newIdentity) this.status(`The session had expired: you are now ${sanitize(this.state.self?.name ?? "")}`);
    rejoinAndResend(this.connection, this.state, rooms, this.rejoins);
  }

  /**
   * Handles queued input in order. Messages are pipelined, but a command waits until
   * every earlier frame is answered, because it reads state those answers change
   * ("/join #ops" then "/leave" leaves #ops), and every line waits for a /join or
   * /leave before it. A person typing never notices; a script piped in gets the same
   * result as a person would.
   */
  private pump(): void {
    while (this.input.length > 0 && !this.finished) {
      if (!this.ready || this.connection.state !== "connected") return;
      const line = this.input[0]!;
      if (isCommand(line) && this.connection.pending.size > 0) return;
      // A message typed right after "/join #ops" goes to #ops: it waits for the join.
      if (this.moving !== undefined && this.connection.isPending(this.moving)) return;
      this.input.shift();
      this.handleLine(line);
    }
    if (this.inputEnded && this.input.length === 0) this.maybeFinish();
  }

  private isQuit(line: string): boolean {
    return line.trim() === "exit" || parseInput(line, this.state.currentRoom, this.state.limits).kind === "quit";
  }

  private handleLine(line: string): void {
    if (line.trim() === "exit") {
      this.quitAfterAcks();
      return;
    }
    if (line.trim() !== "") this.runCommand(line);
    if (!this.inputEnded) this.terminal.prompt();
  }

  private runCommand(line: string): void {
    const command = parseInput(line, this.state.currentRoom, this.state.limits);
    switch (command.kind) {
      case "send": {
        // A message names its room, so a resend after a reconnect cannot land elsewhere.
        const frame = command.frame.type === "message" && this.state.currentRoom !== undefined
          ? { ...command.frame, room: this.state.currentRoom }
          : command.frame;
        const ref = this.connection.send(frame);
        if (frame.type === "join" || frame.type === "leave") this.moving = ref;
        return;
      }
      case "history": {
        const room = this.state.currentRoom;
        if (room === undefined) {
          this.refused++;
          this.status("you are not in any room");
          return;
        }
        askForOlder(this.connection, this.state, room, command.limit);
        return;
      }
      case "rooms": {
        const { rooms, currentRoom } = this.state;
        this.status(rooms.length === 0 ? "You are in no room" : `Your rooms: ${rooms.map((r) => `#${r}`).join(", ")} (current: #${currentRoom})`);
        return;
      }
      case "help":
        for (const text of helpLines()) this.status(text);
        return;
      case "quit":
        this.quitAfterAcks();
        return;
      case "usage":
        // Nothing was sent; in a script this counts as a refused line.
        this.refused++;
        this.status(command.text);
        return;
      default: {
        const unhandled: never = command;
        throw new Error(`unhandled command ${JSON.stringify(unhandled)}`);
      }
    }
  }

  /**
   * "exit", /quit, Ctrl+D or EOF on a pipe: stop reading; lines already read are
   * still handled, and the client quits once every frame sent is acknowledged, so
   * nothing typed before "exit" is lost. (In a terminal with the server away it quits
   * at once, and says how many lines were not sent: see endInput.)
   * "exit" and /quit: lines read after them are dropped (at EOF they are all handled).
   */
  private quitAfterAcks(): void {
    this.input.length = 0;
    this.endInput();
  }

  private endInput(): void {
    if (this.inputEnded) return;
    this.inputEnded = true;
    if (this.connection.state !== "connected" && this.interactive) {
      // Quitting while the server is away: what was typed and not yet acknowledged is lost; say so.
      const unsent = this.input.filter((line) => line.trim() !== "").length + this.connection.pending.size;
      if (unsent > 0) this.status(`${unsent} line(s) were not sent: the server is away`);
      this.terminal.close();
      void this.quit(0);
    } else {
      this.terminal.close();
      this.pump();
    }
  }

  private maybeFinish(): void {
    if (!this.ready || this.connection.state !== "connected" || this.connection.pending.size > 0) return;
    // On a cluster the ack of a line can arrive before the line itself (it travels
    // through Redis): show every line we sent before quitting, waiting a moment at most.
    if (this.ownLineUnseen() && !this.echoWaitOver) {
      this.echoTimer ??= setTimeout(() => {
        this.echoWaitOver = true;
        this.maybeFinish();
      }, ECHO_WAIT_MS);
      return;
    }
    clearTimeout(this.echoTimer);
    // A piped line the server refused was shown as an error; say so in the exit code too.
    void this.quit(this.refused > 0 && !this.interactive ? 1 : 0);
  }

  private ownLineUnseen(): boolean {
    for (const [room, id] of this.ackedIds) if (this.state.rooms.includes(room) && this.state.lastSeen(room) < id) return true;
    return false;
  }

  private async onClose(info: { code: number; reason: string; wasOpen: boolean; byUs: boolean }): Promise<void> {
    if (info.byUs || this.finished) return;
    if (!info.wasOpen) {
      const why = await explainConnectFailure(this.options.url, { token: this.options.token, insecure: this.options.insecure });
      this.fail(`Could not connect to ${this.options.url}: ${why}`);
      return;
    }
    const detail = info.reason ? `${info.code} ${sanitize(info.reason)}` : String(info.code);
    const unsent = this.connection.pending.size + this.input.length;
    this.fail(`Disconnected from server (${detail})${unsent > 0 ? `; ${unsent} line(s) were not acknowledged` : ""}`);
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
