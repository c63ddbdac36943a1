import { expect, test } from "bun:test";
import { RecentKeys } from "../../../src/server/recent-keys.ts";

test("a key is claimed once; a released key can be claimed again; the oldest goes first past the bound", () => {
  const keys = new RecentKeys(2);
  expect(keys.claim("a")).toBe(true);
  expect(keys.claim("a")).toBe(false);
  keys.release("a");
  expect(keys.claim("a")).toBe(true);
  expect(keys.claim("b")).toBe(true);
  expect(keys.claim("c")).toBe(true); // "a" is forgotten now
  expect(keys.claim("b")).toBe(false);
  expect(keys.claim("a")).toBe(true);
});
