// The browser page's entry: the forms ask the session for things, the session's
// events redraw the view. Served by the chat server at GET / (src/server/web-page.ts).
import { nameProblem, normaliseRoom } from "../protocol.ts";
import { WebSession } from "./session.ts";
import { ChatView } from "./view.ts";

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
}

const connectScreen = byId<HTMLElement>("connect-screen");
const chatScreen = byId<HTMLElement>("chat-screen");
const connectForm = byId<HTMLFormElement>("connect-form");
const connectName = byId<HTMLInputElement>("connect-name");
const connectRoom = byId<HTMLInputElement>("connect-room");
const connectError = byId<HTMLElement>("connect-error");
const composer = byId<HTMLFormElement>("composer");
const message = byId<HTMLInputElement>("message");
const joinForm = byId<HTMLFormElement>("join-form");
const joinRoom = byId<HTMLInputElement>("join-room");
const dmForm = byId<HTMLFormElement>("dm-form");
const nickForm = byId<HTMLFormElement>("nick-form");
const rooms = byId<HTMLUListElement>("rooms");
const people = byId<HTMLUListElement>("people");

let session: WebSession | undefined;
const SESSION_KEY = "chat-session";
const view = new ChatView(
  {
    log: byId("messages"),
    status: byId("status"),
    alert: byId("alert"),
    rooms,
    people,
    peopleTitle: byId("people-title"),
    names: byId("known-names"),
    messageLabel: byId("message-label"),
    nick: byId("nick"),
  },
  () => session,
);

// On a phone the people list starts folded, so the messages get the screen.
if (window.matchMedia("(max-width: 720px)").matches) byId<HTMLDetailsElement>("people-panel").open = false;
connectName.value = localStorage.getItem("chat-name") ?? "";
// A reloaded tab comes back as the same user, in the same rooms: its session is kept
// per tab (sessionStorage), so two tabs are still two users unless told otherwise.
if (sessionStorage.getItem(SESSION_KEY) !== null) connect(connectName.value, undefined);

connectForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const name = connectName.value.trim();
  const room = connectRoom.value.trim();
  const problem = name === "" ? undefined : nameProblem(name);
  const badRoom = room !== "" && normaliseRoom(room) === undefined;
  if (problem !== undefined || badRoom) {
    showConnectError(problem ?? "rooms are 1-64 characters of a-z, 0-9, '_' and '-', optionally after '#'");
    return;
  }
  localStorage.setItem("chat-name", name);
  connect(name, room === "" ? undefined : normaliseRoom(room));
});

function connect(name: string, room: string | undefined): void {
  connectError.hidden = true;
  view.reset();
  session = new WebSession(
    // A token for a server that requires one comes with the page's address: /?token=…
    {
      pageUrl: location.href,
      name: name === "" ? undefined : name,
      room,
      token: new URLSearchParams(location.search).get("token") ?? undefined,
      session: sessionStorage.getItem(SESSION_KEY) ?? undefined,
    },
    {
      onStatus: (text, live) => view.status(text, live),
      onMessages: (messages, older) => view.messages(messages, older),
      onFrame: (frame) => view.frame(frame),
      onLocal: (text, isError) => view.local(text, isError),
      onChange: () => {
        if (chatScreen.hidden && session?.state.self !== undefined) showChat();
        view.render();
      },
      onSession: (secret) => (secret === undefined ? sessionStorage.removeItem(SESSION_KEY) : sessionStorage.setItem(SESSION_KEY, secret)),
      onEnd: (text) => {
        session = undefined;
        chatScreen.hidden = true;
        connectScreen.hidden = false;
        showConnectError(text);
        connectName.focus();
      },
    },
  );
}

function showChat(): void {
  connectScreen.hidden = true;
  chatScreen.hidden = false;
  message.focus();
}

function showConnectError(text: string): void {
  connectError.textContent = text;
  connectError.hidden = false;
}

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  if (session === undefined || message.value.trim() === "") return;
  view.followEnd();
  session.submit(message.value);
  message.value = "";
});

joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  session?.join(joinRoom.value);
  joinRoom.value = "";
  message.focus();
});

dmForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const to = byId<HTMLInputElement>("dm-to");
  const text = byId<HTMLInputElement>("dm-text");
  session?.direct(to.value, text.value);
  text.value = "";
});

nickForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const nick = byId<HTMLInputElement>("nick");
  session?.rename(nick.value);
  nick.blur();
});

rooms.addEventListener("click", (event) => {
  const target = (event.target as HTMLElement).closest("button");
  if (target?.dataset.leave !== undefined) session?.leave(target.dataset.leave);
  else if (target?.dataset.room !== undefined) {
    session?.switchTo(target.dataset.room);
    message.focus();
  }
});

people.addEventListener("click", (event) => {
  const target = (event.target as HTMLElement).closest("button");
  if (target?.dataset.dm === undefined) return;
  byId<HTMLInputElement>("dm-to").value = target.dataset.dm;
  byId<HTMLInputElement>("dm-text").focus();
});

byId<HTMLButtonElement>("quit").addEventListener("click", () => void session?.quit());

// Alt+ArrowUp / Alt+ArrowDown: the previous or next room tab, from anywhere on the page.
document.addEventListener("keydown", (event) => {
  if (!event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown") || session === undefined) return;
  const tabs = [...rooms.querySelectorAll<HTMLButtonElement>("button.room-tab")].map((b) => b.dataset.room!);
  const at = tabs.indexOf(session.state.currentRoom ?? "");
  const next = tabs[(at + (event.key === "ArrowDown" ? 1 : tabs.length - 1)) % tabs.length];
  if (next !== undefined) {
    event.preventDefault();
    session.switchTo(next);
  }
});
