// History in SQLite (bun:sqlite): WAL mode, prepared statements, one transaction per
// batch. synchronous=NORMAL: a committed batch survives a crash of this process (the
// WAL is in the OS's hands); a power cut may lose the last batches.
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { publicJson, type DraftMessage, type HistoryOptions, type LocalHistoryStore, type Page, type Replay, type StoredMessage, type StoredSession } from "./store.ts";

interface Row {
  room: string;
  id: number;
  ref: string | null;
  frame: string;
}

/**
 * Schema 2: a message is kept as the frame everyone sees (its one serialisation),
 * with the columns the queries need beside it. Schema 1 (before 2026-11-26) kept the
 * fields in columns; it is migrated on open.
 */
const SCHEMA_VERSION = 2;
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS messages (
    room TEXT NOT NULL, id INTEGER NOT NULL, user_id TEXT NOT NULL, ref TEXT, frame TEXT NOT NULL,
    PRIMARY KEY (room, id)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS messages_by_ref ON messages (user_id, ref) WHERE ref IS NOT NULL;
  CREATE TABLE IF NOT EXISTS sessions (
    session TEXT PRIMARY KEY, user_id TEXT NOT NULL, name TEXT NOT NULL, rooms TEXT NOT NULL,
    saved_at INTEGER NOT NULL
  ) WITHOUT ROWID;
`;

/** Rows per INSERT statement: one statement per row cost most of a commit. */
const INSERT_CHUNK = 32;
/** How many inserts into a room between two prunes: pruning is one indexed range delete. */
const PRUNE_EVERY = 64;
/** The newest messages of a room kept in memory: every new connection asks for them. */
const TAIL = 50;
/** Rooms whose tail is kept; the least recently used is dropped past this. */
const TAIL_ROOMS = 1024;

export function createSqliteHistory(file: string, options: HistoryOptions): LocalHistoryStore {
  if (file !== ":memory:") mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new Database(file, { create: true, strict: true });
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA wal_autocheckpoint = 0;");
  migrate(db);
  db.exec(SCHEMA);
  db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  // Checkpoints happen in a worker thread, not inside our commits (see checkpointer.ts).
  const checkpointer = file === ":memory:" ? undefined : startCheckpointer(file);

  const insertSql = (rows: number) => `INSERT INTO messages (room, id, user_id, ref, frame) VALUES ${Array(rows).fill("(?, ?, ?, ?, ?)").join(", ")}`;
  const insertOne = db.prepare(insertSql(1));
  const insertChunk = db.prepare(insertSql(INSERT_CHUNK));
  const rowValues = (m: StoredMessage): Array<string | number | null> => [m.room, m.id, m.userId, m.ref ?? null, m.json];
  const prune = db.prepare("DELETE FROM messages WHERE room = $room AND id <= $upTo");
  // Pruning keeps the newest messages of a room, so its highest id is always still there.
  const selectLastId = db.prepare<{ last_id: number | null }, { room: string }>("SELECT MAX(id) AS last_id FROM messages WHERE room = $room");
  const selectNewest = db.prepare<Row, { room: string; since: number; before: number; limit: number }>(
    "SELECT room, id, ref, frame FROM messages WHERE room = $room AND id > $since AND id < $before ORDER BY id DESC LIMIT $limit",
  );
  const selectByRef = db.prepare<{ room: string; id: number }, { userId: string; ref: string }>(
    "SELECT room, id FROM messages WHERE user_id = $userId AND ref = $ref LIMIT 1",
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
  const lastId = (room: string) => {
    let id = lastIds.get(room);
    if (id === undefined) {
      id = selectLastId.get({ room })?.last_id ?? 0;
      lastIds.set(room, id);
    }
    return id;
  };

  const appendBatch = db.transaction((messages: StoredMessage[]) => {
    const touched = new Map<string, number>();
    let i = 0;
    for (; i + INSERT_CHUNK <= messages.length; i += INSERT_CHUNK) {
      insertChunk.run(...messages.slice(i, i + INSERT_CHUNK).flatMap(rowValues));
    }
    for (; i < messages.length; i++) insertOne.run(...rowValues(messages[i]!));
    for (const m of messages) touched.set(m.room, m.id);
    for (const [room, id] of touched) {
      const count = (sincePrune.get(room) ?? 0) + 1;
      if (count >= PRUNE_EVERY) {
        prune.run({ room, upTo: id - options.historyLimit });
        sincePrune.set(room, 0);
      } else {
        sincePrune.set(room, count);
      }
    }
  });

  /** Newest `limit` rows in (since, before), returned oldest first, cut to what retention keeps. */
  const newest = (room: string, since: number, before: number, limit: number): StoredMessage[] => {
    const floor = Math.max(since, lastId(room) - options.historyLimit);
    return selectNewest.all({ room, since: floor, before, limit }).reverse().map(toMessage);
  };

  return {
    shared: false,
    lastId,

    append(drafts: DraftMessage[]) {
      if (drafts.length === 0) return [];
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
        appendBatch(messages);
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
      return { messages, missed: total - messages.length };
    },

    before(room, before, limit): Page {
      const messages = newest(room, 0, before, limit + 1);
      const complete = messages.length <= limit;
      return { messages: complete ? messages : messages.slice(1), complete };
    },

    findRef: (userId, ref) => selectByRef.get({ userId, ref }) ?? undefined,

    saveSession(s: StoredSession) {
      upsertSession.run({ session: s.session, userId: s.userId, name: s.name, rooms: JSON.stringify(s.rooms), savedAt: s.savedAt });
    },
    loadSession(session) {
      const row = selectSession.get({ session });
      if (row === null) return undefined;
      return { session: row.session, userId: row.user_id, name: row.name, rooms: JSON.parse(row.rooms) as string[], savedAt: row.saved_at };
    },
    deleteSession: (session) => void removeSession.run({ session }),
    deleteSessionsBefore: (time) => void removeSessionsBefore.run({ time }),

    close() {
      checkpointer?.terminate();
      // One last checkpoint so the database file is whole without its WAL.
      if (file !== ":memory:") db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      db.close();
    },
  };
}

function startCheckpointer(file: string): Worker {
  const worker = new Worker(new URL("./checkpointer.ts", import.meta.url));
  worker.postMessage({ file: path.resolve(file), intervalMs: 1000 });
  // A background helper must not keep the process alive.
  worker.unref();
  return worker;
}

function toMessage(row: Row): StoredMessage {
  const message = JSON.parse(row.frame) as StoredMessage;
  message.json = row.frame;
  if (row.ref !== null) message.ref = row.ref;
  return message;
}

/** Brings a schema-1 database (fields in columns) to schema 2 (the frame as text). */
function migrate(db: Database): void {
  const version = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
  const columns = db.query("SELECT name FROM pragma_table_info('messages')").all() as Array<{ name: string }>;
  if (version >= SCHEMA_VERSION || !columns.some((c) => c.name === "content")) return;
  db.transaction(() => {
    db.exec("ALTER TABLE messages RENAME TO messages_v1; DROP INDEX IF EXISTS messages_by_ref;");
    db.exec(SCHEMA);
    db.exec(`INSERT INTO messages (room, id, user_id, ref, frame)
      SELECT room, id, user_id, ref, json_object('type', 'message', 'id', id, 'room', room, 'userId', user_id,
        'name', name, 'content', content, 'timestamp', ts) FROM messages_v1`);
    db.exec("DROP TABLE messages_v1; DROP TABLE IF EXISTS rooms;");
  })();
}
