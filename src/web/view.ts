// Draws the session into the page. Every piece of text from the server (names,
// messages, error texts) is set with textContent inside a <bdi>, never parsed as
// HTML: a message "<img onerror=…>" is shown as those characters, and a name with
// right-to-left overrides cannot reorder the text around it.
import { localTime, nameHash } from "../client/render.ts";
import { ACTION_PREFIX } from "../client/commands.ts";
import type { MessageFrame, ServerFrame } from "../protocol.ts";
import { KEEP_LINES, MOST_LINES, READING_LINES, TRIM_STEP } from "./log-size.ts";
import type { WebSession } from "./session.ts";

/** How close to the bottom (px) the log must be for new lines to scroll it. */
const STICK_TO_BOTTOM = 48;
/** New lines are drawn at most this often (about a display frame), all that came in between at once. */
const DRAW_EVERY_MS = 16;

export interface ViewElements {
  log: HTMLOListElement;
  status: HTMLElement;
  alert: HTMLElement;
  rooms: HTMLUListElement;
  people: HTMLUListElement;
  peopleTitle: HTMLElement;
  names: HTMLDataListElement;
  messageLabel: HTMLLabelElement;
  nick: HTMLInputElement;
}

export class ChatView {
  private shownRoom: string | undefined;
  private readonly unread = new Map<string, number>();
  private tabOrder: string[] = [];
  /** What each redrawn part last showed: it is rebuilt only on a change, so focus and clicks are not lost. */
  private readonly drawn = new Map<string, string>();
  private alertTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * New lines wait here to be drawn together, up to DRAW_EVERY_MS later: drawn one by
   * one, each cost a layout of the whole log, and a busy room (2,250 messages at once)
   * took the page 17 s to show.
   */
  private waiting: HTMLLIElement[] = [];
  private drawTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set by an older page (/history), cleared when the reader writes: the log keeps READING_LINES meanwhile. */
  private pagedBack = false;

  constructor(private readonly el: ViewElements, private readonly session: () => WebSession | undefined) {}

  /** A new session starts with an empty page. */
  reset(): void {
    this.el.log.replaceChildren();
    clearTimeout(this.drawTimer);
    this.drawTimer = undefined;
    this.waiting = [];
    this.pagedBack = false;
    this.unread.clear();
    this.tabOrder = [];
    this.shownRoom = undefined;
    this.drawn.clear();
    this.el.alert.hidden = true;
  }

  status(text: string, live: boolean): void {
    this.el.status.textContent = text;
    this.el.status.dataset.live = String(live);
  }

  /** An error the user should notice now; it also stays in the log. */
  alert(text: string): void {
    this.el.alert.textContent = text;
    this.el.alert.hidden = false;
    clearTimeout(this.alertTimer);
    this.alertTimer = setTimeout(() => (this.el.alert.hidden = true), 10_000);
  }

  messages(messages: MessageFrame[], older: boolean): void {
    const selfId = this.session()?.state.self?.userId;
    const items = messages.map((m) => this.messageItem(m, m.userId === selfId));
    for (const m of messages) if (m.room !== this.shownRoom && !older) this.unread.set(m.room, (this.unread.get(m.room) ?? 0) + 1);
    if (older) {
      this.keepView(() => this.el.log.prepend(...items));
      this.pagedBack = true;
    } else {
      this.append(items);
    }
    this.renderRooms();
  }

  frame(frame: ServerFrame): void {
    const time = typeof frame.timestamp === "string" ? frame.timestamp : new Date().toISOString();
    const selfId = this.session()?.state.self?.userId;
    switch (frame.type) {
      case "direct": {
        const from = frame.from === selfId ? "you" : frame.fromName;
        const to = frame.to === selfId ? "you" : frame.toName;
        this.append([this.item("direct", time, undefined, [bdi(`[dm] ${from} → ${to}: `, "label"), bdi(frame.content, "content")])]);
        return;
      }
      case "presence": {
        const names = frame.users.map((u) => u.name);
        const count = `${names.length} ${names.length === 1 ? "user" : "users"}`;
        this.append([this.item("system", time, undefined, [bdi(`-- #${frame.room} (${count}): ${names.join(", ") || "nobody"}`, "content")])]);
        return;
      }
      case "error":
        this.append([this.item("error", time, undefined, [bdi(`error [${frame.code}]: ${frame.content}`, "content")])]);
        this.alert(`${frame.content} (${frame.code})`);
        return;
      case "system": {
        // Notices about one room show under its tab, except our own leave: that tab is gone.
        const ownLeave = frame.event === "leave" && frame.userId === selfId;
        const room = (frame.event === "join" || frame.event === "leave" || frame.event === "gap") && !ownLeave ? frame.room : undefined;
        this.append([this.item("system", time, room, [bdi(`-- ${frame.content}`, "content")])]);
        return;
      }
      default: {
        // A newer server's frame type: its text, if it has any, as the protocol promises.
        const content = (frame as { content?: unknown }).content;
        if (typeof content === "string") this.append([this.item("system", time, undefined, [bdi(content, "content")])]);
      }
    }
  }

  local(text: string, isError: boolean): void {
    this.append([this.item(isError ? "error local" : "local", new Date().toISOString(), undefined, [bdi(text, "content")])]);
    if (isError) this.alert(text);
  }

  /** Redraws what depends on who we are and where: rooms, people, labels; shows the current room's lines. */
  render(): void {
    const session = this.session();
    const current = session?.state.currentRoom;
    if (current !== this.shownRoom) {
      this.shownRoom = current;
      if (current !== undefined) this.unread.delete(current);
      for (const li of this.el.log.children) (li as HTMLElement).hidden = !this.visible(li as HTMLElement);
      this.scrollToEnd();
    }
    this.el.messageLabel.textContent = current === undefined ? "Message (join a room first)" : `Message #${current}`;
    const self = session?.state.self;
    if (self !== undefined && document.activeElement !== this.el.nick) this.el.nick.value = self.name;
    this.renderRooms();
    this.renderPeople();
  }

  private renderRooms(): void {
    const session = this.session();
    const rooms = session?.state.rooms ?? [];
    const current = session?.state.currentRoom;
    // Tabs in the order joined, not the order last shown, so they do not jump about.
    this.tabOrder = [...this.tabOrder.filter((r) => rooms.includes(r)), ...rooms.filter((r) => !this.tabOrder.includes(r))];
    if (!this.changed("rooms", [this.tabOrder, current, [...this.unread]])) return;
    keepFocus(this.el.rooms, () => this.el.rooms.replaceChildren(
      ...this.tabOrder.map((room) => {
        const li = document.createElement("li");
        const tab = document.createElement("button");
        tab.type = "button";
        tab.className = "room-tab";
        tab.dataset.room = room;
        tab.textContent = `#${room}`;
        if (room === current) tab.setAttribute("aria-current", "true");
        const unread = this.unread.get(room) ?? 0;
        if (unread > 0) {
          const badge = document.createElement("span");
          badge.className = "unread";
          badge.textContent = String(unread);
          badge.setAttribute("aria-label", `${unread} unread`);
          tab.append(" ", badge);
        }
        const leave = document.createElement("button");
        leave.type = "button";
        leave.className = "leave";
        leave.dataset.leave = room;
        leave.textContent = "×";
        leave.setAttribute("aria-label", `Leave #${room}`);
        leave.title = `Leave #${room}`;
        li.append(tab, leave);
        return li;
      }),
    ));
  }

  /** Whether what a part of the page shows differs from the last time it was drawn. */
  private changed(part: string, content: unknown): boolean {
    const key = JSON.stringify(content);
    if (this.drawn.get(part) === key) return false;
    this.drawn.set(part, key);
    return true;
  }

  private renderPeople(): void {
    const session = this.session();
    const room = session?.state.currentRoom;
    const selfId = session?.state.self?.userId;
    const users = room === undefined || session === undefined ? [] : session.presence(room);
    this.el.peopleTitle.textContent = room === undefined ? "People" : `In #${room} (${users.length})`;
    if (!this.changed("people", [users, selfId])) return;
    keepFocus(this.el.people, () => this.el.people.replaceChildren(
      ...users.map((user) => {
        const li = document.createElement("li");
        const name = bdi(user.name, "name");
        name.style.color = nameColour(user.name);
        if (user.userId === selfId) {
          li.append(name, " (you)");
        } else {
          const button = document.createElement("button");
          button.type = "button";
          button.className = "person";
          button.dataset.dm = user.name;
          button.setAttribute("aria-label", `Direct message to ${user.name}`);
          button.append(name);
          li.append(button);
        }
        return li;
      }),
    ));
    const names = [...new Set(session?.state.names ?? [])].filter((n) => n !== session?.state.self?.name).sort();
    if (!this.changed("names", names)) return;
    this.el.names.replaceChildren(
      ...names.map((n) => {
        const option = document.createElement("option");
        option.value = n;
        return option;
      }),
    );
  }

  private messageItem(message: MessageFrame, own: boolean): HTMLLIElement {
    const name = bdi(message.name ?? message.userId, "name");
    name.style.color = nameColour(String(message.name));
    const content = String(message.content);
    const parts: Array<Node | string> = content.startsWith(ACTION_PREFIX)
      ? ["* ", name, " ", bdi(content.slice(ACTION_PREFIX.length), "content")]
      : [name, ...(own ? [" (you)"] : []), ": ", bdi(content, "content")];
    const li = this.item(`message${own ? " own" : ""}${content.startsWith(ACTION_PREFIX) ? " action" : ""}`, message.timestamp, message.room, parts);
    li.dataset.id = String(message.id);
    return li;
  }

  private item(kind: string, iso: string, room: string | undefined, parts: Array<Node | string>): HTMLLIElement {
    const li = document.createElement("li");
    li.className = `entry ${kind}`;
    if (room !== undefined) li.dataset.room = room;
    const time = document.createElement("time");
    time.dateTime = iso;
    time.textContent = localTime(iso);
    li.append(time, " ", ...parts);
    li.hidden = !this.visible(li);
    return li;
  }

  /** Lines of one room show under its tab; direct messages, errors and notices show everywhere. */
  private visible(li: HTMLElement): boolean {
    return li.dataset.room === undefined || li.dataset.room === this.shownRoom;
  }

  /**
   * The reader wrote something: back to the end, and to the shorter log. (Not on their
   * own lines coming in: a room's history brings those too, and another tab's.)
   */
  followEnd(): void {
    this.pagedBack = false;
    this.scrollToEnd();
  }

  private append(items: HTMLLIElement[]): void {
    this.waiting.push(...items);
    // A tab in the background gets its timers run once a second or less: draw now rather
    // than let the lines waiting pile up past what the log would keep.
    if (this.waiting.length > KEEP_LINES) {
      clearTimeout(this.drawTimer);
      this.draw();
      return;
    }
    this.drawTimer ??= setTimeout(() => this.draw(), DRAW_EVERY_MS);
  }

  /** Draws the lines waiting, with one layout. */
  private draw(): void {
    this.drawTimer = undefined;
    const items = this.waiting;
    this.waiting = [];
    const log = this.el.log;
    const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < STICK_TO_BOTTOM;
    // The room shown may have changed since they were made.
    for (const li of items) li.hidden = !this.visible(li);
    const reading = !atEnd;
    log.append(...items);
    // Follow new lines unless the reader scrolled up to read older ones.
    this.trim(reading || this.pagedBack ? READING_LINES : KEEP_LINES, reading);
    if (!reading) this.scrollToEnd();
  }

  /**
   * Drops the oldest lines past `keep` (and TRIM_STEP more); paging back then starts at
   * the oldest left. While the reader is scrolled up, lines on screen stay (up to
   * MOST_LINES). Nothing goes while an older page is on its way: it would be shown
   * above a hole where the dropped lines were.
   */
  private trim(keep: number, reading: boolean): void {
    const log = this.el.log;
    const count = log.childElementCount;
    if (count <= keep + TRIM_STEP) return;
    const state = this.session()?.state;
    if (count <= MOST_LINES && state?.pagingBack()) return;
    let drop = count - keep;
    if (reading && count <= MOST_LINES) drop = Math.min(drop, this.linesAboveView());
    const rooms = new Set<string>();
    this.keepView(() => {
      for (; drop > 0; drop--) {
        const line = log.firstElementChild as HTMLElement;
        if (line.dataset.id !== undefined && line.dataset.room !== undefined) rooms.add(line.dataset.room);
        line.remove();
      }
    });
    for (const room of rooms) {
      const oldest = log.querySelector<HTMLElement>(`li[data-room="${CSS.escape(room)}"][data-id]`);
      state?.dropOlderThan(room, oldest === null ? undefined : Number(oldest.dataset.id));
    }
  }

  /**
   * Makes a change above the lines on screen (older lines put before them, the oldest
   * taken away) without moving those lines: the log scrolls by the height the change
   * added or removed. The page turns the browser's scroll anchoring off (style.css) so
   * that this is the one way it happens, in browsers without it too.
   */
  private keepView(change: () => void): void {
    const log = this.el.log;
    const before = log.scrollHeight;
    // From where it was: near the end, removing lines has already pulled scrollTop down.
    const top = log.scrollTop;
    change();
    log.scrollTop = top + log.scrollHeight - before;
  }

  /** How many of the log's lines come before the first one on screen (0 when none is found). */
  private linesAboveView(): number {
    const log = this.el.log;
    const box = log.getBoundingClientRect();
    // Lines of other rooms are hidden and have no place on screen to compare: ask the
    // page what is drawn at the top of the log instead, past its padding.
    for (let y = box.top + 1; y < box.bottom; y += 8) {
      const line = document.elementFromPoint(box.left + box.width / 2, y)?.closest("li");
      if (line?.parentElement === log) return Array.prototype.indexOf.call(log.children, line);
    }
    return 0;
  }

  private scrollToEnd(): void {
    this.el.log.scrollTop = this.el.log.scrollHeight;
  }
}

/** Rebuilds a list; a button that had the focus gives it to its new twin (same data attributes). */
function keepFocus(list: HTMLElement, rebuild: () => void): void {
  const focused = document.activeElement;
  const key = focused instanceof HTMLElement && list.contains(focused) ? JSON.stringify(focused.dataset) : undefined;
  rebuild();
  if (key === undefined) return;
  for (const button of list.querySelectorAll<HTMLElement>("button")) {
    if (JSON.stringify(button.dataset) === key) return button.focus();
  }
}

function bdi(text: string, className: string): HTMLElement {
  const element = document.createElement("bdi");
  element.className = className;
  element.textContent = text;
  return element;
}

/** The same name gets the same colour in every browser, as in the CLI (render.ts nameHash). */
function nameColour(name: string): string {
  return `hsl(${nameHash(name) % 360} 65% var(--name-lightness))`;
}
