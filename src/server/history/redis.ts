// History in Redis, shared by every node of a cluster: per-room ids from a counter,
// messages in a stream trimmed to the history limit, and the publish to the room's
// channel, all in one script (cluster/scripts.ts APPEND), so the order in which nodes
// hear messages is their id order. Refs are checked inside the same script, so a
// resend to another node is recognised too.
import type { RedisLink } from "../cluster/redis-link.ts";
import { APPEND } from "../cluster/scripts.ts";
import { publicJsonTail, type DraftMessage, type HistoryOptions, type HistoryStore, type Page, type Replay, type StoredMessage, type StoredSession } from "./store.ts";

export interface RedisHistoryOptions extends HistoryOptions {
  /** How long a ref is remembered, so a resend after a lost ack is not stored twice. @default 86400 */
  refTtlSeconds?: number;
}

/** A stream entry as Redis answers it: [entry id, [field, value, ...]]. */
type StreamEntry = [string, string[]];

export function createRedisHistory(link: RedisLink, options: RedisHistoryOptions): HistoryStore {
  const refTtl = options.refTtlSeconds ?? 86_400;

  const read = (entries: StreamEntry[]): StoredMessage[] =>
    entries.map(([, fields]) => {
      const json = fields[fields.indexOf("m") + 1] ?? "{}";
      return { ...(JSON.parse(json) as StoredMessage), json };
    });
  const lastId = async (room: string) => Number((await link.send("GET", [`chat:seq:${room}`])) ?? 0);

  return {
    shared: true,
    lastId,

    async append(drafts: DraftMessage[]) {
      const args: (string | number)[] = [options.historyLimit, refTtl];
      for (const d of drafts) args.push(d.room, d.userId, d.ref ?? "", publicJsonTail(d));
      const answers = (await link.script(APPEND, args)) as (number | string)[];
      return drafts.map((draft, i): StoredMessage => {
        const answer = answers[i]!;
        if (typeof answer === "number") {
          return { ...draft, id: answer, json: `{"type":"message","id":${answer}${publicJsonTail(draft)}` };
        }
        const [room = draft.room, id = "0"] = answer.split(" ");
        return { ...draft, room, id: Number(id), json: "", duplicate: true };
      });
    },

    async recent(room, limit) {
      const entries = (await link.send("XREVRANGE", [`chat:log:${room}`, "+", "-", "COUNT", limit])) as StreamEntry[];
      return read(entries).reverse();
    },

    async after(room, since, limit): Promise<Replay> {
      const [last, entries] = await Promise.all([
        lastId(room),
        link.send("XREVRANGE", [`chat:log:${room}`, "+", `${since + 1}-0`, "COUNT", limit]) as Promise<StreamEntry[]>,
      ]);
      const messages = read(entries).reverse().filter((m) => m.id <= last);
      const total = Math.max(0, last - since);
      // The stream is trimmed to historyLimit entries.
      return { messages, missed: total - messages.length, pruned: Math.min(total, Math.max(0, last - options.historyLimit - since)) };
    },

    async before(room, before, limit): Promise<Page> {
      if (before <= 1) return { messages: [], complete: true };
      const end = before > Number.MAX_SAFE_INTEGER - 1 ? "+" : `${before - 1}-0`;
      const entries = (await link.send("XREVRANGE", [`chat:log:${room}`, end, "-", "COUNT", limit + 1])) as StreamEntry[];
      const messages = read(entries.slice(0, limit)).reverse();
      return { messages, complete: entries.length <= limit };
    },

    // The append script checks refs (see StoredMessage.duplicate).
    findRef: () => undefined,

    async saveSession(session: StoredSession) {
      await link.send("SET", [`chat:session:${session.session}`, JSON.stringify(session)]);
    },
    async loadSession(session) {
      const json = (await link.send("GET", [`chat:session:${session}`])) as string | null;
      return json === null ? undefined : (JSON.parse(json) as StoredSession);
    },
    async deleteSession(session) {
      await link.send("DEL", [`chat:session:${session}`]);
    },
    // Sessions leave with their users (cluster/scripts.ts RELEASE_USER): nothing to sweep.
    deleteSessionsBefore() {},
    close() {},
  };
}
