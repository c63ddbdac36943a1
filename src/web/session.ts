// The browser page's chat session, without the DOM: the CLI's connection state
// machine, client state and slash commands (src/client/), driven by what the page's
// forms ask for, reported through events the view draws. Resume works as in the CLI
// (run-client.ts): the welcome's session goes into the next upgrade URL, each room is
// re-joined with `since` = the last id shown, and messages are shown once per (room, id).
import { ChatConnection } from "../client/connection.ts";
import { COMMANDS, isCommand, parseInput } from "../client/commands.ts";
import { ClientState } from "../client/state.ts";
import type { MessageFrame, PresenceUser, ServerFrame } from "../protocol.ts";
import { askForOlder, olderAnswered } from "../client/paging.ts";
import { rejoinAndResend } from "../client/resume.ts";

export interface SessionEvents {
  /** The connection's state in words, for the status line. */
  onStatus(text: string, live: boolean): void;
  /** Messages to show, each once; `older` for a /history page, which goes above the rest. */
  onMessages(messages: MessageFrame[], older: boolean): void;
  /** A frame for the log other than a room message: system, direct, error, a presence asked for. */
  onFrame(frame: ServerFrame): void;
  /** A line from the page itself: connection changes, /rooms, /help, a wrong command. */
  onLocal(text: string, isError: boolean): void;
  /** Identity, rooms, the current room or someone's presence changed. */
  onChange(): void;
  /** The session is over (the user quit, or the server could not be reached at all). */
  onEnd(text: string): void;
  /** The session secret to resume with after a reload of the page (undefined: forget it, the user quit). */
  onSession?(session: string | undefined): void;
}

export interface SessionOptions {
  /** The page's own address: the chat server is the same host, path `/`. */
  pageUrl: string;
  name?: string | undefined;
  room?: string | undefined;
  /** For a server started with --auth-secret: browsers cannot set headers on a WebSocket, so it goes in the query. */
  token?: string | undefined;
  /** A session to resume: the page's own before it was reloaded. */
  session?: string | undefined;
}

/** The upgrade URL: same host as the page, ws: or wss: to match http: or https:. */
export function chatUrl(pageUrl: string, params: Record<"name" | "room" | "session" | "token", string | undefined>): string {
  const url = new URL("/", pageUrl);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== "") url.searchParams.set(key, value);
  return url.toString();
}

export class WebSession {
  readonly state = new ClientState();
  /** Who is in each joined room, by userId, kept in step with presence, join, leave and nick frames. */
  private readonly people = new Map<string, Map<string, string>>();
  private readonly connection: ChatConnection;
  /** Lines typed and not handled yet: they wait for the welcome, and commands for earlier answers. */
  private readonly input: string[] = [];
  private ready = false;
  private reconnected = false;
  private session: string | undefined;
  private askedSession: string | undefined;
  /** A fresh connection takes input once the history of its first room is in. */
  private catchingUp: string | undefined;
  /** Refs of the re-joins sent after a reconnect, by room: their answer ends the replay. */
  private readonly rejoins = new Map<string, string>();
  /** Rooms with a typed /who outstanding: that presence frame goes into the log too. */
  private readonly whoAsked = new Set<string>();
  private ended = false;
  private lastStatus = { text: "", live: false };
  /** The ref of the last /join or /leave: lines typed after it wait for its answer. */
  private moving: string | undefined;

  constructor(private readonly options: SessionOptions, private readonly events: SessionEvents) {
    this.session = options.session;
    this.connection = new ChatConnection(
      () => {
        this.askedSession = this.session;
        return chatUrl(options.pageUrl, { name: this.state.self?.name ?? options.name, room: this.state.roomToAsk(options.room), session: this.session, token: options.token });
      },
      {
        onOpen: (again) => this.onOpen(again),
        onFrame: (frame) => this.onFrame(frame),
        onClose: (info) => this.end(info.byUs ? "You left the chat." : info.wasOpen ? `Disconnected from server (${info.code})` : "Could not connect to the chat server."),
        onReconnecting: (info) => {
          this.ready = false;
          this.status(`Connection lost (${info.code}); reconnecting in ${(info.delayMs / 1000).toFixed(1)} s, attempt ${info.attempt}`, false, true);
        },
      },
    );
    this.status("Connecting…", false);
  }

  /** Who is in a room, sorted by name as the server sorts a presence list. */
  presence(room: string): PresenceUser[] {
    const users = [...(this.people.get(room) ?? new Map<string, string>())].map(([userId, name]) => ({ userId, name }));
    return users.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Lines typed but not yet handed to the server (they go once it is back). */
  waiting(): number {
    return this.input.length + (this.connection.state === "connected" ? 0 : this.connection.pending.size);
  }

  /** One line from the composer: a message to the current room, or a slash command. */
  submit(line: string): void {
    if (this.ended || line.trim() === "") return;
    this.input.push(line);
    this.pump();
    // While away, the status line counts what waits to be sent.
    if (!this.ready) this.status(this.lastStatus.text, this.lastStatus.live);
    this.events.onChange();
  }

  join(room: string): void {
    this.submit(`/join ${room.trim()}`);
  }

  leave(room: string): void {
    this.submit(`/leave #${room}`);
  }

  rename(name: string): void {
    this.submit(`/nick ${name.trim()}`);
  }

  direct(to: string, text: string): void {
    this.submit(`/msg ${to.trim()} ${text}`);
  }

  /** Shows another joined room; nothing is sent, since every message names its room. */
  switchTo(room: string): void {
    if (this.state.focus(room)) this.events.onChange();
  }

  async quit(): Promise<void> {
    this.input.length = 0;
    this.events.onSession?.(undefined);
    await this.connection.close();
  }

  private status(text: string, live: boolean, log = false): void {
    this.lastStatus = { text, live };
    const waiting = this.waiting();
    this.events.onStatus(waiting > 0 && !live ? `${text} (${waiting} waiting to be sent)` : text, live);
    if (log) this.events.onLocal(text, false);
  }

  private onOpen(again: boolean): void {
    this.reconnected = again;
    this.status(again ? "Reconnected to WebSocket server" : "Connected to WebSocket server", true, true);
  }

  private onFrame(frame: ServerFrame): void {
    const welcome = frame.type === "system" && frame.event === "welcome" ? frame : undefined;
    const roomsBefore = [...this.state.rooms];
    const selfBefore = this.state.self;
    this.state.apply(frame);
    this.trackPresence(frame);
    const retried = frame.type === "error" && frame.ref !== undefined && this.connection.isPending(frame.ref);
    if (retried) this.events.onLocal(`The server asked to slow down (${frame.code}); sending again shortly`, false);
    else this.show(frame);
    const ref = (frame.type === "ack" || frame.type === "error") && frame.ref !== undefined ? frame.ref : undefined;
    // A re-join refused for now is sent again: its replay goes on until the final answer.
    const rejoined = ref === undefined || retried ? undefined : this.rejoins.get(ref);
    if (rejoined !== undefined) {
      this.rejoins.delete(ref!);
      this.events.onMessages(this.state.endReplay(rejoined), false);
    }
    const older = olderAnswered(this.state, frame, retried);
    if (older !== undefined && older.messages.length > 0) this.events.onMessages(older.messages, true);
    // Asked for more and nothing came: say why, rather than nothing at all.
    if (older?.complete && older.messages.length === 0 && frame.type === "ack") this.events.onLocal(`No older messages in #${older.room}`, false);
    if (welcome !== undefined) {
      const fresh = welcome.session !== this.askedSession;
      this.connection.setRateLimit(welcome.limits.rate, welcome.limits.burst);
      this.session = welcome.session;
      this.events.onSession?.(welcome.session);
      if (this.reconnected) this.resume(roomsBefore, selfBefore?.userId !== welcome.userId);
      // Resumed on a page that has shown nothing yet (it was reloaded): joining each of
      // its rooms again brings their recent messages and who is there.
      else if (!fresh) for (const room of welcome.rooms) this.connection.send({ type: "join", room });
      this.catchingUp = fresh ? welcome.rooms[0] : undefined;
      this.ready = this.catchingUp === undefined;
      // A fresh connection is told nobody's presence for its first room: ask.
      if (fresh) for (const room of welcome.rooms) this.connection.send({ type: "who", room });
    }
    if (frame.type === "history" && frame.room === this.catchingUp) {
      this.catchingUp = undefined;
      this.ready = true;
    }
    this.pump();
    this.events.onChange();
  }

  private show(frame: ServerFrame): void {
    if (this.state.isRejoinNoise(frame)) return;
    switch (frame.type) {
      case "message":
      case "history": {
        const messages = this.state.toShow(frame);
        if (messages.length > 0) this.events.onMessages(messages, false);
        return;
      }
      case "presence":
        if (this.whoAsked.delete(frame.room)) this.events.onFrame(frame);
        return;
      case "ack":
      case "pong":
        return;
      default:
        this.events.onFrame(frame);
    }
  }

  private trackPresence(frame: ServerFrame): void {
    const selfId = this.state.self?.userId;
    if (frame.type === "presence") {
      this.people.set(frame.room, new Map(frame.users.map((u) => [u.userId, u.name])));
    } else if (frame.type === "system") {
      if (frame.event === "join") {
        if (!this.people.has(frame.room)) this.people.set(frame.room, new Map());
        this.people.get(frame.room)!.set(frame.userId, frame.name);
      } else if (frame.event === "leave") {
        if (frame.userId === selfId) this.people.delete(frame.room);
        else this.people.get(frame.room)?.delete(frame.userId);
      } else if (frame.event === "nick") {
        for (const users of this.people.values()) if (users.has(frame.userId)) users.set(frame.userId, frame.name);
      }
    }
    for (const room of this.people.keys()) if (!this.state.rooms.includes(room)) this.people.delete(room);
  }

  /**
   * After a reconnect: re-join every room we were in, asking for what came after the
   * last message shown, then send again what the server never answered (same refs:
   * it acks a repeated ref without storing it twice).
   */
  private resume(rooms: string[], newIdentity: boolean): void {
    if (newIdentity) this.events.onLocal(`The session had expired: you are now ${this.state.self?.name ?? ""}`, false);
    rejoinAndResend(this.connection, this.state, rooms, this.rejoins);
  }

  /**
   * Handles typed lines in order. A command waits until earlier frames are answered
   * (it reads state they change), and every line waits for a /join or /leave before
   * it, so a message typed right after "/join #dev" goes to #dev.
   */
  private pump(): void {
    while (this.input.length > 0 && this.ready && this.connection.state === "connected") {
      const line = this.input[0]!;
      if (isCommand(line) && this.connection.pending.size > 0) return;
      if (this.moving !== undefined && this.connection.isPending(this.moving)) return;
      this.input.shift();
      this.run(line);
    }
  }

  private run(line: string): void {
    const command = parseInput(line, this.state.currentRoom, this.state.limits);
    const room = this.state.currentRoom;
    switch (command.kind) {
      case "send": {
        let frame = command.frame;
        // A message names its room, so a resend after a reconnect cannot land elsewhere,
        // and the room shown is the room written to even after switching tabs.
        if (frame.type === "message" && room !== undefined) frame = { ...frame, room };
        if (frame.type === "who") {
          if (frame.room === undefined && room !== undefined) frame = { ...frame, room };
          if (frame.room !== undefined) this.whoAsked.add(frame.room);
        }
        const ref = this.connection.send(frame);
        if (frame.type === "join" || frame.type === "leave") this.moving = ref;
        return;
      }
      case "history": {
        if (room === undefined) return this.events.onLocal("you are not in any room", true);
        askForOlder(this.connection, this.state, room, command.limit);
        return;
      }
      case "rooms": {
        const rooms = this.state.rooms;
        return this.events.onLocal(rooms.length === 0 ? "You are in no room" : `Your rooms: ${rooms.map((r) => `#${r}`).join(", ")} (current: #${room})`, false);
      }
      case "help":
        for (const [name, spec] of Object.entries(COMMANDS)) {
          this.events.onLocal(`${spec.usage} — ${name === "quit" ? "leave the chat" : spec.help}`, false);
        }
        return;
      case "quit":
        void this.quit();
        return;
      case "usage":
        return this.events.onLocal(command.text, true);
      default: {
        const unhandled: never = command;
        throw new Error(`unhandled command ${JSON.stringify(unhandled)}`);
      }
    }
  }

  private end(text: string): void {
    if (this.ended) return;
    this.ended = true;
    this.ready = false;
    this.events.onStatus(text, false);
    this.events.onEnd(text);
  }
}
