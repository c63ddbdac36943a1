// History in process memory: for `--db :memory:` and tests. Same contract as SQLite,
// nothing survives a restart.
import { publicJson, type DraftMessage, type HistoryOptions, type LocalHistoryStore, type Page, type Replay, type StoredMessage, type StoredSession } from "./store.ts";

export function createMemoryHistory(options: HistoryOptions): LocalHistoryStore {
  const rooms = new Map<string, StoredMessage[]>();
  const lastIds = new Map<string, number>();
  const refs = new Map<string, { room: string; id: number }>();
  const sessions = new Map<string, StoredSession>();
  const refKey = (userId: string, ref: string) => `${userId}\u0000${ref}`;

  return {
    shared: false,
    lastId: (room) => lastIds.get(room) ?? 0,

    append(drafts: DraftMessage[]) {
      const stored: StoredMessage[] = [];
      for (const draft of drafts) {
        const id = (lastIds.get(draft.room) ?? 0) + 1;
        const message: StoredMessage = { ...draft, id, json: publicJson({ ...draft, id }) };
        stored.push(message);
        let list = rooms.get(message.room);
        if (list === undefined) {
          list = [];
          rooms.set(message.room, list);
        }
        list.push(message);
        lastIds.set(message.room, message.id);
        if (message.ref !== undefined) refs.set(refKey(message.userId, message.ref), { room: message.room, id: message.id });
        // Prune in chunks so the array is not shifted on every message.
        if (list.length > options.historyLimit + Math.max(16, options.historyLimit >> 4)) {
          for (const old of list.splice(0, list.length - options.historyLimit)) {
            // Only its own entry: the same ref used again later names a newer message.
            if (old.ref === undefined) continue;
            const key = refKey(old.userId, old.ref);
            if (refs.get(key)?.id === old.id && refs.get(key)?.room === old.room) refs.delete(key);
          }
        }
      }
      return stored;
    },

    recent(room, limit) {
      const list = kept(room);
      return list.slice(Math.max(0, list.length - limit));
    },

    after(room, since, limit): Replay {
      const total = Math.max(0, (lastIds.get(room) ?? 0) - since);
      const newer = kept(room).filter((m) => m.id > since);
      const messages = newer.slice(Math.max(0, newer.length - limit));
      return { messages, missed: total - messages.length, pruned: total - newer.length };
    },

    before(room, before, limit): Page {
      const older = kept(room).filter((m) => m.id < before);
      const messages = older.slice(Math.max(0, older.length - limit));
      return { messages, complete: messages.length === older.length };
    },

    findRef(userId, ref) {
      const found = refs.get(refKey(userId, ref));
      // Kept as long as its message: past the history limit it is forgotten, pruned yet or not (as in SQLite).
      return found !== undefined && found.id > (lastIds.get(found.room) ?? 0) - options.historyLimit ? found : undefined;
    },
    saveSession: (session) => void sessions.set(session.session, session),
    loadSession: (session) => sessions.get(session),
    deleteSession: (session) => void sessions.delete(session),
    deleteSessionsBefore(time) {
      for (const [key, s] of sessions) if (s.savedAt < time) sessions.delete(key);
    },
    close() {},
  };

  /** The messages retention keeps (the list may hold a few more between prunes). */
  function kept(room: string): StoredMessage[] {
    const list = rooms.get(room) ?? [];
    return list.length > options.historyLimit ? list.slice(list.length - options.historyLimit) : list;
  }
}
