import { expect, test } from "bun:test";
import { backoffDelay } from "../../../src/client/backoff.ts";

const options = (random: number) => ({ minMs: 500, maxMs: 20_000, random: () => random });

test("the first retry waits the minimum", () => {
  expect(backoffDelay(1, options(0))).toBe(500);
  expect(backoffDelay(1, options(0.99))).toBe(500);
});

test("the ceiling doubles per attempt and the delay is spread between the minimum and it", () => {
  expect(backoffDelay(2, options(1))).toBe(1000);
  expect(backoffDelay(3, options(1))).toBe(2000);
  expect(backoffDelay(3, options(0.5))).toBe(1250);
  expect(backoffDelay(3, options(0))).toBe(500);
});

test("it never exceeds the maximum", () => {
  for (let attempt = 1; attempt < 60; attempt++) expect(backoffDelay(attempt, options(1))).toBeLessThanOrEqual(20_000);
  expect(backoffDelay(50, options(1))).toBe(20_000);
});
