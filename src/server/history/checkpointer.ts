// Runs in a worker thread: copies the WAL back into the database file with PASSIVE
// checkpoints from a connection of its own, so the event loop that writes messages
// never stalls for a checkpoint (SQLite's automatic one runs inside a commit and
// took 5-12 ms every thousand pages here).
import { Database } from "bun:sqlite";

declare const self: Worker;

let db: Database | undefined;
let timer: ReturnType<typeof setInterval> | undefined;

self.onmessage = (event: MessageEvent<{ file: string; intervalMs: number } | "stop">) => {
  if (event.data === "stop") {
    clearInterval(timer);
    db?.close();
    self.postMessage("stopped");
    return;
  }
  const { file, intervalMs } = event.data;
  db = new Database(file);
  db.exec("PRAGMA busy_timeout = 1000;");
  const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
  timer = setInterval(() => {
    try {
      checkpoint.run();
    } catch {
      // Busy or locked: the next tick tries again; the WAL only grows meanwhile.
    }
  }, intervalMs);
};
