// Server frame → the text a person reads. Pure: no I/O, so it is unit-tested as is.
import { createColors } from "picocolors";
import type { ServerFrame } from "../protocol.ts";
import { ACTION_PREFIX } from "./commands.ts";
import { sanitize } from "../sanitize.ts";

export interface RenderOptions {
  color: boolean;
  /** The userId the server gave this client, to mark its own messages. */
  selfId: string | undefined;
  /** Label messages with their room (useful when the user is in more than one). */
  showRoom?: boolean;
  /** Formats a frame's ISO timestamp; local HH:MM:SS by default. */
  formatTime?: (iso: string) => string;
}

export function localTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "--:--:--";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

type Colors = ReturnType<typeof createColors>;
type Paint = (text: string) => string;

function namePalette(c: Colors): Paint[] {
  return [c.cyan, c.green, c.yellow, c.blue, c.magenta, c.cyanBright, c.greenBright, c.yellowBright, c.blueBright, c.magentaBright];
}

/** FNV-1a: the same name gets the same colour in every client and every run. */
export function nameHash(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Continuation lines of a multi-line message line up under its first line. */
function indentContinuation(text: string, width: number): string {
  return text.includes("\n") ? text.replaceAll("\n", `\n${" ".repeat(width)}`) : text;
}

export function createRenderer(options: RenderOptions) {
  const c = createColors(options.color);
  const palette = namePalette(c);
  const formatTime = options.formatTime ?? localTime;
  const paintName = (name: string) => palette[nameHash(name) % palette.length]!(name);

  /** One frame as printable text (possibly several lines), or undefined for frames not shown. */
  return function render(frame: ServerFrame): string | undefined {
    const timeText = formatTime(typeof frame.timestamp === "string" ? frame.timestamp : "");
    const time = c.dim(timeText);
    switch (frame.type) {
      case "message": {
        const name = sanitize(String(frame.name ?? frame.userId));
        const own = options.selfId !== undefined && frame.userId === options.selfId;
        const roomName = sanitize(String(frame.room));
        const room = options.showRoom ? `${c.dim(`#${roomName}`)} ` : "";
        const content = String(frame.content);
        if (content.startsWith(ACTION_PREFIX)) {
          return `${time} ${room}${c.bold(`* ${paintName(name)}`)} ${c.italic(sanitize(content.slice(ACTION_PREFIX.length)))}`;
        }
        const label = own ? `${paintName(name)} ${c.dim("(you)")}` : paintName(name);
        // The uncoloured width of everything before the content, to align continuation lines.
        const prefixWidth = `${timeText} ${options.showRoom ? `#${roomName} ` : ""}${name}${own ? " (you)" : ""}: `.length;
        return `${time} ${room}${c.bold(label)}: ${indentContinuation(sanitize(content, true), prefixWidth)}`;
      }
      case "direct": {
        const isSelf = (userId: unknown) => options.selfId !== undefined && userId === options.selfId;
        const from = isSelf(frame.from) ? "you" : sanitize(String(frame.fromName));
        const to = isSelf(frame.to) ? "you" : sanitize(String(frame.toName));
        return `${time} ${c.magenta(c.bold(`[dm] ${from} → ${to}:`))} ${c.magenta(sanitize(String(frame.content)))}`;
      }
      case "presence": {
        const users = Array.isArray(frame.users) ? frame.users : [];
        const names = users.map((u) => sanitize(String(u.name)));
        const count = `${names.length} ${names.length === 1 ? "user" : "users"}`;
        return `${time} ${c.dim(`-- #${sanitize(String(frame.room))} (${count}): ${names.join(", ") || "nobody"}`)}`;
      }
      case "system":
        return `${time} ${c.dim(`-- ${sanitize(String(frame.content))}`)}`;
      case "error":
        return `${time} ${c.red(`error [${sanitize(String(frame.code))}]: ${sanitize(String(frame.content))}`)}`;
      case "ack":
      case "pong":
        return undefined;
      default: {
        // A newer server's frame type: show its text if it has any, as the protocol promises.
        const content = (frame as { content?: unknown }).content;
        return typeof content === "string" ? `${time} ${c.dim(sanitize(content, true))}` : undefined;
      }
    }
  };
}
