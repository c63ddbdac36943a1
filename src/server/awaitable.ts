// Interfaces whose local implementation answers at once and whose Redis one answers
// later (socket.io's adapter does the same), and the handlers that use them.
//
// Handlers are written once, as generators of steps: `yield* wait(x)` gives x's
// value, and `drive` runs the steps synchronously for as long as no step is a
// promise. In one process nothing is ever a promise, so a handler costs no promise and
// no microtask (async functions cost both on every connection: a fifth of the accept
// rate); on a cluster, where Redis answers later, the same handler waits.
export type Awaitable<T> = T | Promise<T>;

/** A handler written as steps, returning T. */
export type Steps<T = void> = Generator<unknown, T, any>;

/**
 * One step: the value itself, or what the promise resolves to. Only a promise is
 * yielded to `drive`: a value goes straight back, without suspending the handler.
 */
export function* wait<T>(value: Awaitable<T>): Generator<Awaitable<T>, T, T> {
  if (!(value instanceof Promise)) return value;
  return yield value;
}

/** Runs steps to the end: synchronously (returning undefined) unless one of them waits. */
export function drive(steps: Steps): void | Promise<void> {
  return advance(steps, steps.next());
}

function advance(steps: Steps, result: IteratorResult<unknown, void>): void | Promise<void> {
  while (!result.done) {
    const value = result.value;
    if (value instanceof Promise) {
      return value.then(
        (resolved: unknown) => advance(steps, steps.next(resolved)),
        (error: unknown) => advance(steps, steps.throw(error)),
      );
    }
    result = steps.next(value);
  }
}
