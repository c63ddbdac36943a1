// History in SQLite (bun:sqlite): WAL mode, prepared statements. A small batch is
// stored first in the pending journal beside the database (journal.ts: one write(2)
// per event-loop turn), and the database takes the journal over in large
// transactions: after INGEST_MESSAGES messages, INGEST_DELAY_MS after the first
// pending one, with the next large batch (which goes straight in), and on close.
// Reads take pending messages from memory, so they never commit. On open, whatever
// a crash left in the journal goes in first. Both survive a crash of this process
// (the journal and the WAL, synchronous=NORMAL, are in the OS's hands); a power cut
// may lose the last batches. `:memory:` has no journal: each batch is its own
// transaction.
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { Journal } from "./journal.ts";
import { publicJson, refKey, type DraftMessage, type HistoryOptions, type LocalHistoryStore, type Page, type Replay, type StoredMessage, type StoredSession } from "./store.ts";

interface ChunkRow {
  first_id: number;
  frames: string;
}

/**
 * Schema 4: a room's messages of one batch are kept as one row, a chunk: their frames
 * (the text everyone sees; JSON has no raw newline, so a newline separates them) and
 * the range of their ids, which are consecutive. A row per message cost 2-3 µs of
 * B-tree and WAL work per message; a chunk of 77 costs about 0.6 µs a message (see
 * bench/RESULTS.md). Rows go in arrival order (rowid), so a commit appends to the
 * table's last pages whatever rooms it touches, and only the small (room, first_id)
 * index is written in many places: keyed by room, 200 rooms' chunks in one commit cost
 * 4x as much. Refs, only on messages sent with one, have a table of their own.
 * Schemas 3 (chunks keyed by room), 2 (a row per message) and 1 (fields in columns)
 * are migrated on open.
 */
const SCHEMA_VERSION = 4;
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS chunks (
    seq INTEGER PRIMARY KEY, room TEXT NOT NULL, first_id INTEGER NOT NULL, last_id INTEGER NOT NULL, frames TEXT NOT NULL
  );
  CREATE UNIQUE INDEX IF NOT EXISTS chunks_by_room ON chunks (room, first_id);
  CREATE TABLE IF NOT EXISTS refs (
    user_id TEXT NOT NULL, ref TEXT NOT NULL, room TEXT NOT NULL, id INTEGER NOT NULL,
    PRIMARY KEY (user_id, ref)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS refs_by_room ON refs (room, id);
  CREATE TABLE IF NOT EXISTS sessions (
    session TEXT PRIMARY KEY, user_id TEXT NOT NULL, name TEXT NOT NULL, rooms TEXT NOT NULL,
    saved_at INTEGER NOT NULL
  ) WITHOUT ROWID;
`;
/** Schema 2's table, which schema 1 is migrated through. */
const SCHEMA_2_MESSAGES = `
  CREATE TABLE messages (
    room TEXT NOT NULL, id INTEGER NOT NULL, user_id TEXT NOT NULL, ref TEXT, frame TEXT NOT NULL,
    PRIMARY KEY (room, id)
  ) WITHOUT ROWID;
`;

/** Most messages in one chunk: a read of the newest few parses at most one chunk's worth. */
const CHUNK_MESSAGES = 64;
/** Messages stored into a room between two prunes (at least; a quarter of the limit if more): one indexed range delete each. */
const PRUNE_EVERY = 64;
/** Pending messages that make the database take the journal over at once. */
const INGEST_MESSAGES = 4096;
/** How long a pending message waits at most for the database to take it. */
const INGEST_DELAY_MS = 200;
/** Batches this large skip the journal (see `store`). */
const DIRECT_MESSAGES = 32;
/**
 * Pending messages the database takes per event-loop turn when it takes them in the
 * background: 4,096 messages of 1,000 rooms in one transaction held the loop for
 * milliseconds (many-rooms p99 4.6x the ceiling's).
 */
const INGEST_SLICE = 64;
/** The newest messages of a room kept in memory: every new connection asks for them. */
const TAIL = 50;
/** Rooms whose tail is kept; the least recently used is dropped past this. */
const TAIL_ROOMS = 1024;
/** Rooms remembered as having no message (see `emptyRooms`). */
const EMPTY_ROOMS = 1024;

export function createSqliteHistory(file: string, options: HistoryOptions): LocalHistoryStore {
  if (file !== ":memory:") mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new Database(file, { create: true, strict: true });
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA wal_autocheckpoint = 0;");
  migrate(db);
  db.exec(SCHEMA);
  db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  const warn = options.warn ?? (() => {});
  // Checkpoints happen in a worker thread, not inside our commits (see checkpointer.ts).
  const checkpointer = file === ":memory:" ? undefined : startCheckpointer(file, warn);

  const insertChunk = db.prepare("INSERT INTO chunks (room, first_id, last_id, frames) VALUES (?, ?, ?, ?)");
  const insertRef = db.prepare("INSERT OR REPLACE INTO refs (user_id, ref, room, id) VALUES (?, ?, ?, ?)");
  // A chunk straddling the limit stays whole; reads cut it at the limit.
  const pruneChunks = db.prepare("DELETE FROM chunks WHERE room = $room AND first_id <= $upTo AND last_id <= $upTo");
  const pruneRefs = db.prepare("DELETE FROM refs WHERE room = $room AND id <= $upTo");
  // Pruning keeps the newest messages of a room, so its newest chunk is always still there.
  const selectLastId = db.prepare<{ last_id: number }, { room: string }>(
    "SELECT last_id FROM chunks WHERE room = $room ORDER BY first_id DESC LIMIT 1",
  );
  // Every chunk this finds holds at least one message in (since, before): `limit` chunks are enough.
  const selectNewest = db.prepare<ChunkRow, { room: string; since: number; before: number; limit: number }>(
    "SELECT first_id, frames FROM chunks WHERE room = $room AND first_id < $before AND last_id > $since ORDER BY first_id DESC LIMIT $limit",
  );
  const selectByRef = db.prepare<{ room: string; id: number }, { userId: string; ref: string }>(
    "SELECT room, id FROM refs WHERE user_id = $userId AND ref = $ref",
  );
  const upsertSession = db.prepare(
    "INSERT OR REPLACE INTO sessions (session, user_id, name, rooms, saved_at) VALUES ($session, $userId, $name, $rooms, $savedAt)",
  );
  const selectSession = db.prepare<{ session: string; user_id: string; name: string; rooms: string; saved_at: number }, { session: string }>(
    "SELECT * FROM sessions WHERE session = $session",
  );
  const removeSession = db.prepare("DELETE FROM sessions WHERE session = $session");
  const removeSessionsBefore = db.prepare("DELETE FROM sessions WHERE saved_at < $time");

  const lastIds = new Map<string, number>();
  const tails = new Map<string, StoredMessage[]>();
  const tailSize = Math.min(TAIL, options.historyLimit);
  const sincePrune = new Map<string, number>();
  const pruneEvery = Math.max(PRUNE_EVERY, Math.ceil(options.historyLimit / 4));
  /**
   * Rooms found with no message, the most recently found last: any client can name
   * rooms by the thousand (a join, a history request), so this is bounded where the
   * rooms with messages (lastIds) are bounded by what is stored.
   */
  const emptyRooms = new Set<string>();
  const lastId = (room: string) => {
    const known = lastIds.get(room);
    if (known !== undefined) return known;
    if (emptyRooms.has(room)) return 0;
    const id = selectLastId.get({ room })?.last_id ?? 0;
    if (id > 0) {
      lastIds.set(room, id);
    } else {
      emptyRooms.add(room);
      if (emptyRooms.size > EMPTY_ROOMS) emptyRooms.delete(emptyRooms.values().next().value as string);
    }
    return id;
  };

  /** Stores messages (ids consecutive per room, in order): a chunk per room and CHUNK_MESSAGES. */
  const appendBatch = db.transaction((messages: StoredMessage[]) => {
    const byRoom = new Map<string, StoredMessage[]>();
    for (const m of messages) {
      const list = byRoom.get(m.room);
      if (list === undefined) byRoom.set(m.room, [m]);
      else list.push(m);
      if (m.ref !== undefined) insertRef.run(m.userId, m.ref, m.room, m.id);
    }
    for (const [room, list] of byRoom) {
      for (let i = 0; i < list.length; i += CHUNK_MESSAGES) {
        const chunk = list.slice(i, i + CHUNK_MESSAGES);
        insertChunk.run(room, chunk[0]!.id, chunk[chunk.length - 1]!.id, chunk.map((m) => m.json).join("\n"));
      }
      const count = (sincePrune.get(room) ?? 0) + list.length;
      if (count >= pruneEvery) {
        const upTo = list[list.length - 1]!.id - options.historyLimit;
        pruneChunks.run({ room, upTo });
        pruneRefs.run({ room, upTo });
        sincePrune.set(room, 0);
      } else {
        sincePrune.set(room, count);
      }
    }
  });

  // Sessions saved "soon" in this event-loop turn, written together at its end: each
  // closing connection saves its user's session, and one transaction each cost a
  // disconnect storm 11 µs of the event loop per connection (session 10). Reads look
  // here first.
  const saveNow = (s: StoredSession) =>
    upsertSession.run({ session: s.session, userId: s.userId, name: s.name, rooms: JSON.stringify(s.rooms), savedAt: s.savedAt });
  const unsaved = new Map<string, StoredSession>();
  let sessionsScheduled = false;
  const writeSessions = db.transaction((sessions: Iterable<StoredSession>) => {
    for (const s of sessions) saveNow(s);
  });
  const flushSessions = () => {
    sessionsScheduled = false;
    if (unsaved.size === 0) return;
    const sessions = [...unsaved.values()];
    unsaved.clear();
    try {
      writeSessions(sessions);
    } catch (error) {
      // The users keep their sessions while connected; only a resume after a restart misses them.
      warn("session_store_failed", { sessions: sessions.length, message: String(error) });
    }
  };

  // Messages in the journal and not yet in the database, with the refs among them.
  let journal: Journal | undefined;
  let pending: StoredMessage[] = [];
  const pendingRefs = new Map<string, { room: string; id: number }>();
  let ingestTimer: ReturnType<typeof setTimeout> | undefined;
  /** Why the database last refused the journal; appends are refused until it takes it. */
  let ingestError: unknown;

  /** The database takes every pending message, in one transaction; the journal is emptied. */
  const ingest = () => {
    if (pending.length > 0) appendBatch(pending);
    taken();
  };
  /** Everything pending is in the database. */
  const taken = () => {
    clearTimeout(ingestTimer);
    ingestTimer = undefined;
    ingestError = undefined;
    pending = [];
    pendingRefs.clear();
    if (journal === undefined || journal.empty) return;
    try {
      journal.clear();
    } catch (error) {
      // The lines left are in the database (recovery skips them by id), and the next
      // clear takes them: never a reason to call the commit that just happened a failure.
      warn("history_journal_not_cleared", { message: String(error) });
    }
  };
  /**
   * Stores a batch. A small one is written to the journal, for the database to take
   * later with thousands of others. A large one goes straight into the database with
   * whatever is pending (which must be there first: recovery skips journal lines below
   * the database's last id): a commit's fixed cost shared by that many messages is less
   * than the journal's extra copy of them.
   */
  const store = (messages: StoredMessage[]) => {
    if (journal === undefined) return appendBatch(messages);
    if (messages.length >= DIRECT_MESSAGES) {
      appendBatch(pending.length === 0 ? messages : pending.concat(messages));
      return taken();
    }
    journal.append(messages);
    for (const m of messages) {
      pending.push(m);
      if (m.ref !== undefined) pendingRefs.set(refKey(m.userId, m.ref), { room: m.room, id: m.id });
    }
    if (pending.length >= INGEST_MESSAGES) ingestSoon();
    else if (ingestTimer === undefined && !slicing) {
      ingestTimer = setTimeout(ingestSoon, INGEST_DELAY_MS);
      // Pending messages never keep the process alive: the journal keeps them.
      ingestTimer.unref();
    }
  };
  /** True while the database takes the pending messages a slice per turn. */
  let slicing = false;
  /**
   * The database takes the pending messages in the background, oldest first, a slice
   * per turn, so no turn is held long. The journal keeps every line until all are in
   * (recovery skips those the database has, by id); reads take the rest from memory.
   */
  const ingestSoon = () => {
    if (slicing) return;
    clearTimeout(ingestTimer);
    slicing = true;
    ingestSlice();
  };
  const ingestSlice = () => {
    try {
      const count = Math.min(pending.length, INGEST_SLICE);
      if (count > 0) {
        appendBatch(pending.slice(0, count));
        pending = pending.slice(count);
      }
      if (pending.length > 0) return void setImmediate(ingestSlice);
      slicing = false;
      taken();
    } catch (error) {
      slicing = false;
      ingestError = error;
    }
  };

  if (file !== ":memory:") {
    const opened = Journal.open(`${file}-pending`);
    journal = opened.journal;
    if (opened.damaged.length > 0) warn("history_journal_damaged", { file: journal.file, lines: opened.damaged.length, first: opened.damaged[0]! });
    // What a crash left. Lines the database already took (a crash between its commit
    // and emptying the journal) are skipped. A room's lines in one chunk must follow on
    // id by id; where they do not (a power cut kept the journal but lost the WAL's
    // end, or a damaged line), what follows is stored as a batch of its own.
    const last = new Map<string, number>();
    let run: StoredMessage[] = [];
    for (const m of opened.messages) {
      const previous = last.get(m.room) ?? lastId(m.room);
      if (m.id <= previous) continue;
      if (m.id !== previous + 1) {
        warn("history_journal_gap", { room: m.room, after: previous, next: m.id });
        if (run.length > 0) appendBatch(run);
        run = [];
      }
      run.push(m);
      last.set(m.room, m.id);
    }
    if (run.length > 0) appendBatch(run);
    for (const [room, id] of last) lastIds.set(room, id);
    journal.clear();
  }

  /** Newest `limit` messages in (since, before), returned oldest first, cut to what retention keeps. */
  const newest = (room: string, since: number, before: number, limit: number): StoredMessage[] => {
    const floor = Math.max(since, lastId(room) - options.historyLimit);
    const found: StoredMessage[] = [];
    if (limit <= 0) return found;
    // A room's pending messages are its newest: read from memory (a read commits
    // nothing, and works while the database refuses writes), then the database's.
    for (let i = pending.length - 1; i >= 0; i--) {
      const m = pending[i]!;
      if (m.room !== room || m.id >= before) continue;
      if (m.id <= floor) break;
      found.push(m);
      if (found.length === limit) return found.reverse();
    }
    // Newest chunk first; within a chunk, newest frame first.
    for (const chunk of selectNewest.all({ room, since: floor, before, limit: limit - found.length })) {
      const frames = chunk.frames.split("\n");
      for (let i = frames.length - 1; i >= 0; i--) {
        const id = chunk.first_id + i;
        if (id >= before) continue;
        if (id <= floor) break;
        found.push(toMessage(frames[i]!));
        if (found.length === limit) return found.reverse();
      }
    }
    return found.reverse();
  };

  return {
    shared: false,
    lastId,

    append(drafts: DraftMessage[]) {
      if (drafts.length === 0) return [];
      // Throws again while the database still refuses the journal: nothing more is accepted.
      if (ingestError !== undefined) ingest();
      // Ids are given from the cache, then committed; if the commit throws, the cache is
      // put back so the ids are given again (nobody has seen them).
      const before = new Map<string, number>();
      const messages = drafts.map((draft) => {
        const previous = lastId(draft.room);
        if (!before.has(draft.room)) before.set(draft.room, previous);
        lastIds.set(draft.room, previous + 1);
        const message: StoredMessage = { ...draft, id: previous + 1, json: "" };
        message.json = publicJson(message);
        return message;
      });
      try {
        store(messages);
      } catch (error) {
        for (const [room, id] of before) lastIds.set(room, id);
        throw error;
      }
      for (const m of messages) {
        const tail = tails.get(m.room);
        if (tail === undefined) continue;
        tail.push(m);
        if (tail.length > tailSize) tail.shift();
      }
      return messages;
    },

    recent(room, limit) {
      if (limit > tailSize) return newest(room, 0, Number.MAX_SAFE_INTEGER, limit);
      let tail = tails.get(room);
      if (tail === undefined) {
        tail = newest(room, 0, Number.MAX_SAFE_INTEGER, tailSize);
        if (tails.size >= TAIL_ROOMS) tails.delete(tails.keys().next().value as string);
      } else {
        tails.delete(room); // re-inserted below: most recently used last
      }
      tails.set(room, tail);
      return tail.slice(Math.max(0, tail.length - limit));
    },

    after(room, since, limit): Replay {
      const total = Math.max(0, lastId(room) - since);
      const messages = newest(room, since, Number.MAX_SAFE_INTEGER, limit);
      // Retention keeps the newest historyLimit ids (newest() reads nothing older).
      const pruned = Math.min(total, Math.max(0, lastId(room) - options.historyLimit - since));
      return { messages, missed: total - messages.length, pruned };
    },

    before(room, before, limit): Page {
      const messages = newest(room, 0, before, limit + 1);
      const complete = messages.length <= limit;
      return { messages: complete ? messages : messages.slice(1), complete };
    },

    findRef(userId, ref) {
      const found = pendingRefs.get(refKey(userId, ref)) ?? selectByRef.get({ userId, ref }) ?? undefined;
      // A ref is kept as long as its message: beyond the history limit it is forgotten, pruned yet or not.
      return found !== undefined && found.id > lastId(found.room) - options.historyLimit ? found : undefined;
    },

    saveSession(s: StoredSession) {
      unsaved.delete(s.session);
      saveNow(s);
    },
    saveSessionSoon(s: StoredSession) {
      unsaved.set(s.session, s);
      if (sessionsScheduled) return;
      sessionsScheduled = true;
      setImmediate(flushSessions);
    },
    loadSession(session) {
      const waiting = unsaved.get(session);
      if (waiting !== undefined) return { ...waiting, rooms: [...waiting.rooms] };
      const row = selectSession.get({ session });
      if (row === null) return undefined;
      return { session: row.session, userId: row.user_id, name: row.name, rooms: JSON.parse(row.rooms) as string[], savedAt: row.saved_at };
    },
    deleteSession(session) {
      unsaved.delete(session);
      removeSession.run({ session });
    },
    deleteSessionsBefore(time) {
      flushSessions();
      removeSessionsBefore.run({ time });
    },

    close() {
      flushSessions();
      checkpointer?.terminate();
      try {
        ingest();
      } catch {
        // The database refuses them now: the journal keeps them for the next open.
      }
      journal?.close();
      // One last checkpoint so the database file is whole without its WAL.
      if (file !== ":memory:") db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      db.close();
    },
  };
}

function startCheckpointer(file: string, warn: NonNullable<HistoryOptions["warn"]>): Worker {
  const worker = new Worker(checkpointerScript());
  // Without it the WAL only grows (wal_autocheckpoint is off): say so.
  worker.onerror = (event) => warn("history_checkpointer_stopped", { message: String(event.message ?? event) });
  worker.postMessage({ file: path.resolve(file), intervalMs: 1000 });
  // A background helper must not keep the process alive.
  worker.unref();
  return worker;
}

/**
 * The checkpointer's script. In a binary of `bun run build` (scripts/build.ts embeds it
 * as an entry point) import.meta.url names the binary, and embedded files are found by
 * their path from src/.
 */
function checkpointerScript(): string {
  return import.meta.url.startsWith("file:///$bunfs/") ? "./server/history/checkpointer.ts" : new URL("./checkpointer.ts", import.meta.url).href;
}

/** A stored frame as a message (without its ref: only findRef needs refs). */
function toMessage(frame: string): StoredMessage {
  const message = JSON.parse(frame) as StoredMessage;
  message.json = frame;
  return message;
}

/** Brings a database of schema 1 (fields in columns), 2 (a row per message) or 3 (chunks keyed by room) to 4. */
function migrate(db: Database): void {
  const version = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
  if (version >= SCHEMA_VERSION) return;
  const columnsOf = (table: string) => (db.query(`SELECT name FROM pragma_table_info('${table}')`).all() as Array<{ name: string }>).map((c) => c.name);
  const messages = columnsOf("messages");
  const chunks = columnsOf("chunks");
  if (messages.length === 0 && (chunks.length === 0 || chunks.includes("seq"))) return;
  db.transaction(() => {
    if (messages.includes("content")) {
      db.exec("ALTER TABLE messages RENAME TO messages_v1; DROP INDEX IF EXISTS messages_by_ref;");
      db.exec(SCHEMA_2_MESSAGES);
      db.exec(`INSERT INTO messages (room, id, user_id, ref, frame)
        SELECT room, id, user_id, ref, json_object('type', 'message', 'id', id, 'room', room, 'userId', user_id,
          'name', name, 'content', content, 'timestamp', ts) FROM messages_v1`);
      db.exec("DROP TABLE messages_v1; DROP TABLE IF EXISTS rooms;");
    }
    if (chunks.length > 0) db.exec("ALTER TABLE chunks RENAME TO chunks_v3;");
    db.exec(SCHEMA);
    if (chunks.length > 0) {
      // Schema 3 to 4: the same chunks, in id order per room.
      db.exec("INSERT INTO chunks (room, first_id, last_id, frames) SELECT room, first_id, last_id, frames FROM chunks_v3 ORDER BY room, first_id");
      db.exec("DROP TABLE chunks_v3;");
    }
    if (messages.length > 0) {
      // Schema 2 to 4: each message becomes a chunk of one.
      db.exec("INSERT INTO chunks (room, first_id, last_id, frames) SELECT room, id, id, frame FROM messages ORDER BY room, id");
      db.exec("INSERT OR REPLACE INTO refs (user_id, ref, room, id) SELECT user_id, ref, room, id FROM messages WHERE ref IS NOT NULL");
      db.exec("DROP INDEX IF EXISTS messages_by_ref; DROP TABLE messages;");
    }
  })();
}
