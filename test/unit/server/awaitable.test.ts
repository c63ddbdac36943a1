import { describe, expect, test } from "bun:test";
import { drive, wait, type Steps } from "../../../src/server/awaitable.ts";

function* addBoth(a: number | Promise<number>, b: number | Promise<number>, out: number[]): Steps<void> {
  const x = yield* wait(a);
  const y = yield* wait(b);
  out.push(x + y);
}

describe("steps", () => {
  test("values run to the end at once, without the handler ever suspending", () => {
    const out: number[] = [];
    const steps = addBoth(1, 2, out);
    // One call to next finishes it: a value is not yielded to drive.
    expect(steps.next().done).toBe(true);
    expect(out).toEqual([3]);
    expect(drive(addBoth(3, 4, out))).toBeUndefined();
    expect(out).toEqual([3, 7]);
  });

  test("a promise makes drive wait, and the handler gets what it resolves to", async () => {
    const out: number[] = [];
    const done = drive(addBoth(Promise.resolve(10), 5, out));
    expect(done).toBeInstanceOf(Promise);
    expect(out).toEqual([]);
    await done;
    expect(out).toEqual([15]);
  });

  test("a rejected promise is thrown inside the handler, where it can be caught", async () => {
    const seen: string[] = [];
    function* guarded(): Steps<void> {
      try {
        yield* wait(Promise.reject(new Error("redis down")) as Promise<number>);
      } catch (error) {
        seen.push((error as Error).message);
      }
    }
    await drive(guarded());
    expect(seen).toEqual(["redis down"]);
  });
});
