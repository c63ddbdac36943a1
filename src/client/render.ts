// Server frame → the text a person reads. Pure: no I/O, so it is unit-tested as is.
import { createColors } from "picocolors";
import type { ServerFrame } from "../protocol.ts";
import { sanitize } from "./sanitize.ts";

export interface RenderOptions {
  color: boolean;
  /** The userId the server gave this client, to mark its own messages. */
  selfId: string | undefined;
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
    const time = c.dim(formatTime(typeof frame.timestamp === "string" ? frame.timestamp : ""));
    switch (frame.type) {
      case "message": {
        const name = sanitize(String(frame.name ?? frame.userId));
        const own = frame.userId === options.selfId;
        const label = own ? `${paintName(name)} ${c.dim("(you)")}` : paintName(name);
        const prefixWidth = 9 + name.length + (own ? 6 : 0) + 2;
        return `${time} ${c.bold(label)}: ${indentContinuation(sanitize(String(frame.content), true), prefixWidth)}`;
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

export type Renderer = ReturnType<typeof createRenderer>;
