// The browser page (src/web/) as Bun.serve routes. Bun bundles the HTML import (its
// TypeScript and CSS) on the first request and serves the result at "/" and its
// hashed assets at "/chunk-….js" / "/chunk-….css"; `bun build --compile` bundles it
// ahead of time and embeds it in the executable instead.
//
// Only plain requests reach these routes: a WebSocket upgrade to "/" (every client
// connects to ws://host:port/) is not answered by an HTML route and falls through to
// the server's fetch handler, which upgrades it. test/e2e/web.test.ts checks both.
import page from "../web/index.html";

export const webPageRoutes = { "/": page };

/**
 * Bun.serve's `development` for the page. Left at its default (on unless
 * NODE_ENV=production), Bun would bundle in development mode: hot reloading through
 * its own WebSocket, an unminified bundle rebuilt on changes, and a "Bundled page"
 * line on stderr per request. The server is run as it is deployed, so production
 * mode: bundled once, minified, cached with ETag and Cache-Control, nothing logged.
 * (Bun also turns SO_REUSEPORT on in production mode; chat-server.ts turns it off, so
 * starting a second server on a busy port still fails.)
 */
export const webPageDevelopment = false;
