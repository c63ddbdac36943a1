// Slash commands → protocol frames (or local actions). Pure, so every command and
// every wrong argument is unit-tested without a server. Arguments are checked with
// the same rules the server uses, so a bad one is caught before anything is sent.
import { DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT, nameProblem, normaliseRoom, type AckableFrame } from "../protocol.ts";

export type Command =
  | { kind: "send"; frame: AckableFrame }
  | { kind: "rooms" }
  /** Older messages of the current room: the client knows where its view starts. */
  | { kind: "history"; limit: number }
  | { kind: "help" }
  | { kind: "quit" }
  /** Nothing is sent; `text` says what was wrong and how to write it. */
  | { kind: "usage"; text: string };

export interface CommandSpec {
  usage: string;
  help: string;
}

export const COMMANDS: Record<string, CommandSpec> = {
  join: { usage: "/join #room", help: "join a room (it becomes your current room)" },
  leave: { usage: "/leave [#room]", help: "leave a room (default: the current one)" },
  nick: { usage: "/nick name", help: "change your display name" },
  who: { usage: "/who [#room]", help: "list who is in a room (default: the current one)" },
  msg: { usage: "/msg name text", help: "send a private message to a name or userId" },
  rooms: { usage: "/rooms", help: "list the rooms you are in" },
  history: { usage: "/history [n]", help: `show the n messages of the current room before the oldest shown (default ${DEFAULT_HISTORY_LIMIT})` },
  me: { usage: "/me action", help: "say what you are doing, e.g. /me waves" },
  help: { usage: "/help", help: "show this list" },
  quit: { usage: "/quit", help: "leave the chat (same as exit, Ctrl+C or Ctrl+D)" },
};

/** Marks a message that is an action; other clients see the text as it is. */
export const ACTION_PREFIX = "/me ";

export function helpLines(): string[] {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length)) + 2;
  return [
    "Commands:",
    ...Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(width)}${c.help}`),
    "  //text".padEnd(width + 2) + "send a message that starts with '/'",
  ];
}

/** A slash command, as opposed to a message ("//x" is the message "/x"). */
export function isCommand(line: string): boolean {
  return line.startsWith("/") && !line.startsWith("//");
}

/** The welcome's limits that a line is checked against before it is sent. */
export interface InputLimits {
  maxContentBytes: number;
  maxPayloadBytes: number;
}

export const NO_LIMITS: InputLimits = { maxContentBytes: Number.POSITIVE_INFINITY, maxPayloadBytes: Number.POSITIVE_INFINITY };
/** Room for what the connection adds to a frame: its ref, and a room. */
const FRAME_OVERHEAD = 160;

/**
 * Turns one input line into what to do. Lines not starting with '/' are messages
 * to the current room; "//x" sends "/x". A line over the welcome's limits is not
 * sent: past the server's frame limit it would cost the connection, and its resend
 * after the reconnect would cost it again, for ever.
 */
export function parseInput(line: string, currentRoom: string | undefined, limits: InputLimits = NO_LIMITS): Command {
  const command = parseLine(line, currentRoom);
  if (command.kind !== "send") return command;
  // TextEncoder, not Buffer: the browser page parses its input here too.
  if ("content" in command.frame) {
    const bytes = utf8.encode(command.frame.content).length;
    if (bytes > limits.maxContentBytes) return usage(`the message is ${bytes} bytes, more than the server takes (${limits.maxContentBytes}): not sent`);
  }
  const frameBytes = utf8.encode(JSON.stringify(command.frame)).length + FRAME_OVERHEAD;
  if (frameBytes > limits.maxPayloadBytes) return usage(`the line is too long to send (${frameBytes} bytes as a frame; the server takes ${limits.maxPayloadBytes}): not sent`);
  return command;
}

const utf8 = new TextEncoder();

function parseLine(line: string, currentRoom: string | undefined): Command {
  if (!isCommand(line)) {
    const content = line.startsWith("//") ? line.slice(1) : line;
    return { kind: "send", frame: { type: "message", content } };
  }
  const [word = "", ...rest] = line.slice(1).split(/\s+/);
  const name = word.toLowerCase();
  const args = rest.filter((a) => a !== "");
  const spec = COMMANDS[name];
  if (spec === undefined) return usage(`unknown command /${word}; /help lists the commands`);
  const wrong = () => usage(`usage: ${spec.usage}`);

  switch (name) {
    case "join": {
      if (args.length !== 1) return wrong();
      const room = normaliseRoom(args[0]!);
      return room === undefined ? usage(roomProblem(args[0]!)) : send({ type: "join", room });
    }
    case "leave": {
      if (args.length > 1) return wrong();
      if (args.length === 0) {
        return currentRoom === undefined ? usage("you are not in any room") : send({ type: "leave", room: currentRoom });
      }
      const room = normaliseRoom(args[0]!);
      return room === undefined ? usage(roomProblem(args[0]!)) : send({ type: "leave", room });
    }
    case "who": {
      if (args.length > 1) return wrong();
      if (args.length === 0) return send({ type: "who" });
      const room = normaliseRoom(args[0]!);
      return room === undefined ? usage(roomProblem(args[0]!)) : send({ type: "who", room });
    }
    case "nick": {
      if (args.length !== 1) return wrong();
      const problem = nameProblem(args[0]!);
      return problem === undefined ? send({ type: "nick", name: args[0]! }) : usage(problem);
    }
    case "msg": {
      // The text keeps its own spacing: only the command and the name are split off.
      const match = /^\/\S+\s+(\S+)\s+([\s\S]*\S[\s\S]*)$/.exec(line);
      if (match === null) return wrong();
      return send({ type: "direct", to: match[1]!, content: match[2]! });
    }
    case "me": {
      const action = line.slice(1 + word.length).trim();
      return action === "" ? wrong() : send({ type: "message", content: `${ACTION_PREFIX}${action}` });
    }
    case "history": {
      if (args.length > 1) return wrong();
      if (args.length === 0) return { kind: "history", limit: DEFAULT_HISTORY_LIMIT };
      const limit = Number(args[0]);
      if (!/^\d+$/.test(args[0]!) || limit < 1 || limit > MAX_HISTORY_LIMIT) return usage(`usage: ${spec.usage} (n from 1 to ${MAX_HISTORY_LIMIT})`);
      return { kind: "history", limit };
    }
    case "rooms":
    case "help":
    case "quit":
      return args.length === 0 ? { kind: name } : wrong();
    default:
      return wrong();
  }
}

function send(frame: AckableFrame): Command {
  return { kind: "send", frame };
}

function usage(text: string): Command {
  return { kind: "usage", text };
}

function roomProblem(input: string): string {
  return `'${input}' is not a room name: 1-64 characters of a-z, 0-9, '_' and '-', optionally after '#'`;
}

/** Tab completion: command names after '/', otherwise the last word against known names. */
export function complete(line: string, names: Iterable<string>): [string[], string] {
  if (/^\/\S*$/.test(line)) {
    const hits = Object.keys(COMMANDS).map((c) => `/${c}`).filter((c) => c.startsWith(line.toLowerCase()));
    return [hits.map((h) => `${h} `), line];
  }
  const word = /(\S*)$/.exec(line)?.[1] ?? "";
  if (word === "") return [[], word];
  const lower = word.toLowerCase();
  const hits = [...new Set(names)].filter((n) => n.toLowerCase().startsWith(lower)).sort();
  return [hits, word];
}
