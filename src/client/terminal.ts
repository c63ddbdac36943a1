// Two ways to talk to the person (or script) at the other end of stdin/stdout:
// an interactive prompt that keeps the line being typed intact while messages
// arrive, and plain line-by-line output for pipes and redirects.
import readline from "node:readline";

export interface Terminal {
  /** Prints text on its own line(s), above the prompt when there is one. */
  print(text: string): void;
  /** Shows the prompt (interactive only). */
  prompt(): void;
  /** Changes the prompt text, redrawing it if it is showing. */
  setPrompt(text: string): void;
  onLine(handler: (line: string) => void): void;
  /** End of input: EOF on a pipe, Ctrl+D on an empty prompt. */
  onEnd(handler: () => void): void;
  onInterrupt(handler: () => void): void;
  close(): void;
}

export type Completer = (line: string) => [string[], string];

export function createInteractiveTerminal(promptText: string, completer?: Completer): Terminal {
  const rl = readline.createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: true,
    prompt: promptText,
    ...(completer ? { completer } : {}),
  });
  const out = process.stdout;
  let prompting = false;
  let closed = false;
  // Goes to the start of the prompt (the input may wrap onto several rows) and clears
  // from there down; the caller then writes and redraws the prompt with the partial input.
  const clearPromptArea = () => {
    readline.moveCursor(out, 0, -rl.getCursorPos().rows);
    readline.cursorTo(out, 0);
    readline.clearScreenDown(out);
    // readline's redraw (prompt(true)) first moves up the rows its last drawing took
    // (`prevRows`, Node's and Bun's alike): we have already, and what we print goes
    // there, so it must start from here. Otherwise, once the input wraps, each redraw
    // wiped the message just printed above it.
    (rl as unknown as { prevRows: number }).prevRows = 0;
  };
  // Back from Ctrl+Z (fg): readline pauses its input on the way back and leaves the
  // resuming to us; without this, nothing typed was read any more.
  rl.on("SIGCONT", () => {
    if (closed) return;
    if (process.stdin.isTTY) process.stdin.setRawMode(true);
    if (prompting) rl.prompt(true);
    else rl.resume();
  });
  return {
    print(text) {
      if (!prompting) {
        out.write(`${text}\n`);
        return;
      }
      clearPromptArea();
      out.write(`${text}\n`);
      rl.prompt(true);
    },
    prompt() {
      prompting = true;
      rl.prompt();
    },
    setPrompt(text) {
      if (text === rl.getPrompt()) return;
      if (!prompting) {
        rl.setPrompt(text);
        return;
      }
      clearPromptArea();
      rl.setPrompt(text);
      rl.prompt(true);
    },
    onLine: (handler) => rl.on("line", handler),
    onEnd: (handler) => rl.on("close", () => closed || handler()),
    onInterrupt: (handler) => rl.on("SIGINT", handler),
    close() {
      if (closed) return;
      closed = true;
      if (prompting) out.write("\n");
      prompting = false;
      rl.close();
    },
  };
}

export function createPlainTerminal(write: (text: string) => void = (t) => process.stdout.write(t)): Terminal {
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  let closed = false;
  return {
    print: (text) => write(`${text}\n`),
    prompt: () => {},
    setPrompt: () => {},
    onLine: (handler) => rl.on("line", handler),
    onEnd: (handler) => rl.on("close", () => closed || handler()),
    onInterrupt: (handler) => process.on("SIGINT", handler),
    close() {
      closed = true;
      rl.close();
    },
  };
}
