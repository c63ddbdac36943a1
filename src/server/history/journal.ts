// The pending journal beside a SQLite history file (`chat.db-pending`): messages that
// are stored but not yet in the database, one line each. Appending a batch here is one
// write(2), about 0.5 µs, where a SQLite commit of the same batch cost 8-16 µs; the
// database takes the lines over later, thousands per transaction (sqlite.ts), and the
// journal is emptied. Once write(2) returns the lines are the kernel's, so they
// survive a crash of this process: the same promise as SQLite's WAL with
// synchronous=NORMAL, which a power cut may also break.
//
// A line is a message's public frame (JSON has no raw newline or tab), then, for a
// message sent with a ref, a tab and the ref as a JSON string.
import { closeSync, ftruncateSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import type { StoredMessage } from "./store.ts";

export class Journal {
  private readonly fd: number;
  /** Bytes in the file: a failed write is cut back to this. */
  private size: number;
  /** A failed write could not be cut back: nothing is appended until the journal is emptied. */
  private damaged = false;
  private scratch = Buffer.allocUnsafe(64 * 1024);

  private constructor(readonly file: string, fd: number, size: number) {
    this.fd = fd;
    this.size = size;
  }

  /** Opens (or creates) the journal and returns it with what it still holds, in order. */
  static open(file: string): { journal: Journal } & ParsedJournal {
    const fd = openSync(file, "a+");
    const text = readFileSync(fd, "utf8");
    return { journal: new Journal(file, fd, Buffer.byteLength(text)), ...parseJournal(text) };
  }

  /** Appends the messages in one write; when it returns, they survive a crash of this process. */
  append(messages: readonly StoredMessage[]): void {
    if (this.damaged) throw new Error(`the pending journal ${this.file} ends in half a line until the database takes it`);
    let text = "";
    for (const m of messages) text += m.ref === undefined ? `${m.json}\n` : `${m.json}\t${JSON.stringify(m.ref)}\n`;
    // Encoded into a buffer kept between batches: the byte count comes with it, and
    // writing a string would encode it into a new buffer every time.
    if (this.scratch.length < text.length * 3) this.scratch = Buffer.allocUnsafe(Math.max(text.length * 3, this.scratch.length * 2));
    const bytes = this.scratch.write(text);
    let written = 0;
    try {
      written = writeSync(this.fd, this.scratch, 0, bytes);
    } finally {
      // A short write (a full disk) would leave half a line for the next batch to follow.
      if (written !== bytes) this.cutBack();
    }
    if (written !== bytes) throw new Error(`the pending journal ${this.file} took ${written} of ${bytes} bytes`);
    this.size += bytes;
  }

  private cutBack(): void {
    try {
      ftruncateSync(this.fd, this.size);
    } catch {
      this.damaged = true;
    }
  }

  get empty(): boolean {
    return this.size === 0;
  }

  /** Empties the journal: everything in it is in the database now. */
  clear(): void {
    ftruncateSync(this.fd, 0);
    this.size = 0;
    this.damaged = false;
  }

  /** Closes the file, and removes it when nothing is left in it. */
  close(): void {
    closeSync(this.fd);
    if (this.size === 0) unlinkSync(this.file);
  }
}

export interface ParsedJournal {
  messages: StoredMessage[];
  /** Lines (numbered from 1) that are not a message: skipped. */
  damaged: number[];
}

/**
 * The messages of a journal's text. A last line without its newline is a write cut off
 * by a crash: it was never acknowledged or published, so it is dropped. Any other line
 * that does not parse (a damaged file) is skipped and reported; the lines around it
 * are kept.
 */
export function parseJournal(text: string): ParsedJournal {
  const lines = text.split("\n");
  lines.pop(); // "" after the last newline, or a line cut off by a crash
  const messages: StoredMessage[] = [];
  const damaged: number[] = [];
  lines.forEach((line, index) => {
    const tab = line.indexOf("\t");
    const json = tab < 0 ? line : line.slice(0, tab);
    try {
      const message = JSON.parse(json) as StoredMessage;
      if (message.type !== "message" || typeof message.room !== "string" || !Number.isSafeInteger(message.id) || message.id < 1) throw new Error("not a message frame");
      message.json = json;
      if (tab >= 0) message.ref = JSON.parse(line.slice(tab + 1)) as string;
      messages.push(message);
    } catch {
      damaged.push(index + 1);
    }
  });
  return { messages, damaged };
}
