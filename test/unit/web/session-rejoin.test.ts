// The page's session against a scripted server: a re-join refused for now (the server's
// rate limit, or its store away) is sent again, and its replay is shown whole.
import { expect, test } from "bun:test";
import { WebSession } from "../../../src/web/session.ts";
import { startRefusedRejoinServer } from "../../refused-rejoin-server.ts";

test("a re-join refused for now keeps its replay open: what it replays after a live message is still shown, in order", async () => {
  const server = startRefusedRejoinServer(50);
  const shown: number[] = [];
  let replayed!: () => void;
  const done = new Promise<void>((resolve) => (replayed = resolve));
  const session = new WebSession({ pageUrl: `http://127.0.0.1:${server.port}/`, name: "ann" }, {
    onStatus() {},
    onMessages(messages) {
      shown.push(...messages.map((m) => m.id));
      if (shown.includes(5)) replayed();
    },
    onFrame() {},
    onLocal() {},
    onChange() {},
    onEnd() {},
  });
  await done;
  await Bun.sleep(50);
  await session.quit();
  server.stop();
  expect(server.joins).toEqual([1, 1]);
  expect(shown).toEqual([1, 2, 3, 4, 5]);
});
