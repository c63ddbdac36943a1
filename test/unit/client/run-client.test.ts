import { describe, expect, test } from "bun:test";
import { connectUrl } from "../../../src/client/run-client.ts";

describe("connectUrl", () => {
  test("without name or room the URL is unchanged but normalised", () => {
    expect(connectUrl({ url: "ws://localhost:8080", name: undefined, room: undefined })).toBe("ws://localhost:8080/");
  });

  test("adds the name and the room as query parameters", () => {
    const url = new URL(connectUrl({ url: "ws://localhost:8080", name: "alice", room: "dev" }));
    expect(url.searchParams.get("name")).toBe("alice");
    expect(url.searchParams.get("room")).toBe("dev");
    expect(url.origin + url.pathname).toBe("ws://localhost:8080/");
  });

  test("keeps the path and query already in the URL", () => {
    const url = new URL(connectUrl({ url: "wss://chat.example/ws?token=abc", name: "bob", room: undefined }));
    expect(url.protocol).toBe("wss:");
    expect(url.pathname).toBe("/ws");
    expect(url.searchParams.get("token")).toBe("abc");
    expect(url.searchParams.get("name")).toBe("bob");
    expect(url.searchParams.has("room")).toBe(false);
  });

  test("the name and room given replace those already in the URL", () => {
    const url = new URL(connectUrl({ url: "ws://h:1/?name=old&room=old", name: "new", room: "#dev" }));
    expect(url.searchParams.getAll("name")).toEqual(["new"]);
    expect(url.searchParams.getAll("room")).toEqual(["#dev"]);
  });

  test("characters that mean something in a URL are encoded", () => {
    const text = connectUrl({ url: "ws://h:1", name: "a&b=c #d", room: "r?x" });
    expect(text).not.toContain(" ");
    expect(text).not.toContain("#d");
    const url = new URL(text);
    expect(url.searchParams.get("name")).toBe("a&b=c #d");
    expect(url.searchParams.get("room")).toBe("r?x");
  });
});
