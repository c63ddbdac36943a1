// Interfaces whose local implementation answers at once and whose Redis one answers
// later (socket.io's adapter does the same): callers `await` either.
export type Awaitable<T> = T | Promise<T>;
