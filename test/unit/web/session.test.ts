import { describe, expect, test } from "bun:test";
import { chatUrl } from "../../../src/web/session.ts";

describe("chatUrl", () => {
  const none = { name: undefined, room: undefined, session: undefined, token: undefined };

  test("the chat is on the page's own host, at /, over ws: for http: and wss: for https:", () => {
    expect(chatUrl("http://127.0.0.1:8080/", none)).toBe("ws://127.0.0.1:8080/");
    expect(chatUrl("https://chat.example.com/some/page?x=1#top", none)).toBe("wss://chat.example.com/");
  });

  test("name, room, session and token go in the query; empty ones are left out", () => {
    const url = new URL(chatUrl("http://localhost:8080/", { name: "alice", room: "dev", session: "s e", token: "" }));
    expect(Object.fromEntries(url.searchParams)).toEqual({ name: "alice", room: "dev", session: "s e" });
  });
});
