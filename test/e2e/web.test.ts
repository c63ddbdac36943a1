// The browser page as people use it: real Chromium pages, a real server process, the
// CLI client and raw WebSocket clients on the other side.
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Page } from "playwright-core";
import { mintToken } from "../../src/server/auth.ts";
import { KEEP_LINES, MOST_LINES, READING_LINES, TRIM_STEP } from "../../src/web/log-size.ts";
import { ChatPage, launchBrowser, type Browser } from "../browser.ts";
import { cleanup, LineCollector, rawWebSocketPeer, ROOT, startProxy, startServer, TestClient, type ServerProcess, tracked } from "../helpers.ts";

// A browser and real processes: generous, but bounded.
setDefaultTimeout(60_000);

const ARTIFACTS = path.join(ROOT, "test", "artifacts");
const dir = mkdtempSync(path.join(tmpdir(), "chat-web-"));
let browser: Browser;
let server: ServerProcess;
let base: string;
const pages: ChatPage[] = [];

async function open(name: string, options?: Parameters<typeof ChatPage.connect>[3], url = base): Promise<ChatPage> {
  const page = await ChatPage.connect(browser.context, url, name, options);
  pages.push(page);
  return page;
}

beforeAll(async () => {
  browser = await launchBrowser();
  server = await startServer();
  base = `http://127.0.0.1:${server.port}/`;
});

afterEach(async () => {
  // A page's own script must never throw, whatever it was sent.
  const errors = pages.flatMap((p) => p.errors);
  await Promise.all(pages.splice(0).map((p) => p.close()));
  expect(errors).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe("serving the page", () => {
  test("GET / is the page with its script and stylesheet, and an upgrade to / is still a WebSocket", async () => {
    const response = await fetch(base);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    const html = await response.text();
    expect(html).toContain("<title>bun-chat</title>");
    const assets = [...html.matchAll(/(?:src|href)="(\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith(".js"))).toBe(true);
    expect(assets.some((a) => a.endsWith(".css"))).toBe(true);
    for (const asset of assets) {
      const res = await fetch(new URL(asset, base));
      expect(res.status).toBe(200);
      expect((await res.text()).length).toBeGreaterThan(100);
    }
    // The CLI's URL (path "/", with a query) still upgrades.
    const peer = await rawWebSocketPeer(server.port, "/?name=rawpeer");
    peer.destroy();
    const client = await TestClient.connect(`${server.url}/?name=upgrader`);
    expect((await client.welcome()).name).toBe("upgrader");
    client.close();
    // Other paths are as before: the operators' endpoints, and 426 for the rest.
    expect((await fetch(new URL("/healthz", base))).status).toBe(200);
    expect((await fetch(new URL("/metrics", base))).status).toBe(200);
    expect((await fetch(new URL("/chat", base))).status).toBe(426);
    // Production bundling: nothing but the listening line on stdout, no bundler lines in the logs.
    expect(server.stdout.lines).toEqual([`WebSocket server is listening on port ${server.port}`]);
    expect(server.stderr.text()).not.toContain("Bundled");
  });
});

describe("chatting", () => {
  test("two pages and a CLI client talk to each other, each line with its time of day", async () => {
    const alice = await open("alice");
    const bob = await open("bob");
    const carol = tracked(Bun.spawn(["bun", "src/client.ts", server.url, "--name", "carol"], { cwd: ROOT, stdin: "pipe", stdout: "pipe", stderr: "pipe" }));
    const carolOut = new LineCollector(carol.stdout);
    await carolOut.waitFor("Welcome, carol!");

    await alice.say("Hello from the browser");
    await bob.waitForLine("alice: Hello from the browser");
    await carolOut.waitFor("alice: Hello from the browser");
    await alice.waitForLine("alice (you): Hello from the browser");

    carol.stdin.write("Hi from the terminal\n");
    carol.stdin.flush();
    await alice.waitForLine("carol: Hi from the terminal");
    await bob.waitForLine("carol: Hi from the terminal");

    await bob.say("/me waves");
    await alice.waitForLine("* bob waves");
    await carolOut.waitFor("* bob waves");

    const line = (await alice.lines()).find((l) => l.includes("Hello from the browser"))!;
    expect(line).toMatch(/^\d\d:\d\d:\d\d alice \(you\): Hello from the browser$/);
    const stamp = await alice.log.locator("li.message time").first().getAttribute("datetime");
    expect(stamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    await bob.say("/join #dev");
    await bob.say("Anyone in #dev?");
    await alice.say("/msg bob the page does direct messages too");
    await bob.waitForLine("[dm] alice → you: the page does direct messages too");
    await alice.say("/join dev");
    await alice.waitForLine("bob: Anyone in #dev?");
    await alice.say("Yes, the page keeps each room apart");
    await alice.waitForLine("alice (you): Yes, the page keeps each room apart");
    // One line at a time, as a person types: a piped message does not wait for the /join before it.
    carol.stdin.write("/join #dev\n");
    carol.stdin.flush();
    await carolOut.waitFor("carol joined #dev");
    carol.stdin.write("The terminal client is here too\n");
    carol.stdin.flush();
    await alice.waitForLine("carol: The terminal client is here too");
    await bob.say("/me cheers");
    await alice.waitForLine("* bob cheers");
    mkdirSync(ARTIFACTS, { recursive: true });
    await alice.page.screenshot({ path: path.join(ARTIFACTS, "web-chat.png") });
    // The README's picture: refreshed on request, so ordinary runs leave the tree clean.
    if (process.env.UPDATE_SCREENSHOT === "1") copyFileSync(path.join(ARTIFACTS, "web-chat.png"), path.join(ROOT, "docs", "screenshot.png"));

    carol.stdin.end();
    expect(await carol.exited).toBe(0);
  });

  test("presence lists who is in the current room and follows joins, renames and leaves", async () => {
    const dana = await open("dana");
    const erin = await open("erin");
    await dana.waitForLine("erin joined #lobby");
    await expectPeople(dana, ["dana (you)", "erin"], "In #lobby (2)");
    await expectPeople(erin, ["dana", "erin (you)"], "In #lobby (2)");

    await erin.page.getByLabel("Your name").fill("erin2");
    await erin.clickButton("Rename");
    await dana.waitForLine("erin is now known as erin2");
    await expectPeople(dana, ["dana (you)", "erin2"], "In #lobby (2)");

    await dana.say("/join #side");
    await expectPeople(dana, ["dana (you)"], "In #side (1)");
    await erin.say("/join side");
    await expectPeople(dana, ["dana (you)", "erin2"], "In #side (2)");
    await erin.clickButton("Leave #side");
    await dana.waitForLine("erin2 left #side");
    await expectPeople(dana, ["dana (you)"], "In #side (1)");
    await erin.waitForLine("erin2 left #side");
    expect(await erin.page.getByRole("button", { name: "#side", exact: true }).count()).toBe(0);
  });

  test("direct messages go to the two people only, both ways, from the form or /msg", async () => {
    const fay = await open("fay");
    const gus = await open("gus");
    const hal = await open("hal");
    // Picking a person in the list fills in the recipient.
    await fay.clickButton("Direct message to gus");
    expect(await fay.page.getByLabel("To", { exact: true }).inputValue()).toBe("gus");
    expect(await inPage(fay.page, "document.activeElement?.id")).toBe("dm-text");
    await fay.page.getByLabel("Private message").fill("just between us");
    await fay.page.getByLabel("Private message").press("Enter");
    await gus.waitForLine("[dm] fay → you: just between us");
    await fay.waitForLine("[dm] you → gus: just between us");
    await gus.say("/msg fay got it");
    await fay.waitForLine("[dm] gus → you: got it");
    await hal.say("hal was here");
    await fay.waitForLine("hal: hal was here");
    expect((await hal.lines()).join("\n")).not.toContain("just between us");
    expect((await hal.lines()).join("\n")).not.toContain("got it");
  });

  test("error frames from the server are shown, and the page stays usable", async () => {
    const ivy = await open("ivy");
    await ivy.say("/msg nobody-here hello?");
    await ivy.waitForLine("error [no_such_user]");
    expect(await ivy.page.getByRole("alert").filter({ hasText: "no_such_user" }).isVisible()).toBe(true);
    await open("jon");
    await ivy.say("/nick jon");
    await ivy.waitForLine("error [name_taken]");
    // A wrong command, or a message longer than the server takes, is caught on the page, before anything is sent.
    await ivy.say("/join not a room");
    await ivy.waitForLine("usage: /join #room");
    await ivy.say("x".repeat(5000));
    await ivy.waitForLine("the message is 5000 bytes, more than the server takes (4096): not sent");
    await ivy.say("still here");
    await ivy.waitForLine("ivy (you): still here");
  });

  test("hostile text is shown as text: no element is created and no script runs", async () => {
    const kim = await open("kim");
    const mallory = await TestClient.connect(`${server.url}/?name=mallory`);
    const attacks = [
      `<img src=x onerror="window.__pwned=1">`,
      `<script>window.__pwned=2</script>`,
      `"><svg onload="window.__pwned=3">`,
      "\u202eevil reversed",
    ];
    for (const attack of attacks) mallory.send(attack);
    mallory.send(JSON.stringify({ type: "direct", to: "kim", content: `<b onmouseover="window.__pwned=4">bold?</b>` }));
    await kim.waitForLine(`[dm] mallory → you: <b onmouseover="window.__pwned=4">bold?</b>`);
    await kim.waitForLine("evil reversed");
    for (const attack of attacks.slice(0, 3)) {
      await kim.waitForLine(`mallory: ${attack}`);
      expect(await kim.log.getByText(attack, { exact: true }).isVisible()).toBe(true);
    }
    expect(await kim.log.locator("img, script, svg, b").count()).toBe(0);
    expect(await inPage(kim.page, "window.__pwned")).toBeUndefined();
    // A right-to-left override stays inside its own <bdi>: it cannot reorder the name or the time.
    const bidi = kim.log.locator("li", { hasText: "evil reversed" });
    expect(await bidi.locator("bdi.content").textContent()).toBe("\u202eevil reversed");
    mallory.close();
  });

  test("rooms are joined, switched between and left; each shows its own lines and counts the unread", async () => {
    const lee = await open("lee");
    const max = await open("max");
    await lee.say("/join #alpha");
    await lee.page.getByLabel("Join room").fill("beta");
    await lee.page.getByLabel("Join room").press("Enter");
    await lee.waitForLine("lee joined #beta");
    expect(await lee.page.getByRole("button", { name: /^#/ }).allTextContents()).toEqual(["#lobby", "#alpha", "#beta"]);
    await lee.say("in beta");
    await lee.clickButton("#alpha");
    expect(await lee.page.getByRole("textbox", { name: "Message #alpha" }).isVisible()).toBe(true);
    await lee.say("in alpha");
    await lee.waitForLine("lee (you): in alpha");
    const visible = (await lee.lines({ visibleOnly: true })).join("\n");
    expect(visible).not.toContain("in beta");
    // A message to a room not shown raises its unread count; showing it clears the count.
    await max.say("/join beta");
    await max.say("psst, beta");
    const badge = lee.page.locator('button[data-room="beta"] .unread');
    await badge.waitFor();
    expect(await badge.textContent()).toBe("1");
    await lee.clickButton(/^#beta/);
    await lee.waitForLine("max: psst, beta");
    expect(await lee.page.locator(".unread").count()).toBe(0);
    await lee.clickButton("Leave #beta");
    await lee.waitForLine("lee left #beta");
    expect(await lee.page.getByRole("button", { name: /^#/ }).allTextContents()).toEqual(["#lobby", "#alpha"]);
  });
});

describe("a page left open", () => {
  test("keeps the newest lines of a busy room, and /history brings back the ones it let go", async () => {
    const reader = await open("reader");
    const total = KEEP_LINES + TRIM_STEP + 50;
    const sender = await rawSender("?name=busy");
    for (let i = 1; i <= total; i++) sender.send(`line ${i}`);
    await reader.waitForLine(`busy: line ${total}`, 30_000);

    const shown = await reader.lines();
    expect(shown.length).toBeGreaterThanOrEqual(KEEP_LINES);
    expect(shown.length).toBeLessThanOrEqual(KEEP_LINES + TRIM_STEP);
    const numbers = (lines: string[]) => lines.map((l) => /busy: line (\d+)$/.exec(l)?.[1]).filter((n) => n !== undefined).map(Number);
    const kept = numbers(shown);
    // The newest, in order, without a hole; the oldest went.
    expect(kept.at(-1)).toBe(total);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => total - kept.length + 1 + i));
    const firstKept = kept[0]!;
    expect(firstKept).toBeGreaterThan(1);

    // Paging back starts right before the oldest line still shown.
    await reader.say("/history 20");
    await reader.waitForLine(`busy: line ${firstKept - 1}`);
    const paged = numbers(await reader.lines());
    expect(paged.slice(0, 20 + 1)).toEqual(Array.from({ length: 21 }, (_, i) => firstKept - 20 + i));

    // What the reader went back for stays while new lines come...
    const more = total + TRIM_STEP + 50;
    for (let i = total + 1; i <= more; i++) sender.send(`line ${i}`);
    await reader.waitForLine(`busy: line ${more}`, 30_000);
    const after = numbers(await reader.lines());
    expect(after[0]).toBe(firstKept - 20);
    expect(after).toEqual(Array.from({ length: after.length }, (_, i) => firstKept - 20 + i));
    // ...until they speak: then the log is back to the newest KEEP_LINES.
    await reader.say("back");
    await reader.waitForLine("reader (you): back");
    const last = await reader.lines();
    expect(last.length).toBeLessThanOrEqual(KEEP_LINES + TRIM_STEP);
    expect(numbers(last).at(-1)).toBe(more);
    sender.close();
  });

  /**
   * A reader page in a room of its own and a raw sender of numbered lines: `sendUpTo(n)`
   * sends up to "line n" and waits until the page shows it; `onScreen()` gives the
   * lines that meet the log's box, found by their boxes (the page finds them otherwise).
   */
  async function readingRoom(name: string, room: string) {
    const reader = await open(name, { room });
    const sender = await rawSender(`?name=chatty&room=${room}`);
    const feed = {
      reader,
      sender,
      sent: 0,
      async sendUpTo(last: number) {
        while (feed.sent < last) sender.send(`line ${++feed.sent}`);
        await reader.waitForLine(`chatty: line ${last}`, 30_000);
      },
      onScreen: () => inPage<string[]>(reader.page, `(() => {
        const log = document.querySelector("#messages");
        const box = log.getBoundingClientRect();
        return [...log.children].filter((li) => { const r = li.getBoundingClientRect(); return r.height > 0 && r.bottom > box.top && r.top < box.bottom; }).map((li) => li.textContent);
      })()`),
      scrollTo: (expression: string) => inPage(reader.page, `(() => { const log = document.querySelector("#messages"); log.scrollTop = ${expression}; })()`),
    };
    return feed;
  }

  test("a reader scrolled up keeps the lines on screen while thousands come in, up to MOST_LINES", async () => {
    const { reader, sender, sendUpTo, onScreen, scrollTo } = await readingRoom("scroller", "reading");
    await sendUpTo(300);
    await scrollTo("0");
    const read = await onScreen();
    expect(read.length).toBeGreaterThan(0);

    await sendUpTo(300 + READING_LINES + 2 * TRIM_STEP);
    const count = (await reader.lines()).length;
    expect(count).toBeGreaterThan(READING_LINES + TRIM_STEP);
    expect(await onScreen()).toEqual(read);

    // Past MOST_LINES the oldest go even from under the reader: the log stays bounded.
    await sendUpTo(MOST_LINES + 300);
    expect((await reader.lines()).length).toBeLessThanOrEqual(MOST_LINES);
    sender.close();
  });

  test("a reader scrolled up only a little keeps the same lines on screen when the oldest go", async () => {
    const feed = await readingRoom("nearend", "nearend");
    const { reader, sender, sendUpTo, onScreen, scrollTo } = feed;
    await sendUpTo(300);
    await scrollTo("0");
    await sendUpTo(READING_LINES + TRIM_STEP / 2);
    // 200 px above the end: a trim of TRIM_STEP lines is taller than what is below the screen,
    // so removing them pulls scrollTop down before the page puts the view back.
    await scrollTo("log.scrollHeight - log.clientHeight - 200");
    const read = await onScreen();
    const first = (await reader.lines())[0];
    // One line a time, as a chat brings them, until the oldest go.
    for (let i = 0; i < TRIM_STEP; i++) {
      sender.send(`line ${++feed.sent}`);
      await Bun.sleep(25);
    }
    await reader.waitForLine(`chatty: line ${feed.sent}`, 30_000);
    expect((await reader.lines())[0]).not.toBe(first);
    expect((await onScreen()).slice(0, 5)).toEqual(read.slice(0, 5));
    sender.close();
  });

  test("a reader scrolled to the middle keeps the same lines on screen while the oldest go from above them", async () => {
    const { reader, sender, sendUpTo, onScreen, scrollTo } = await readingRoom("middle", "middle");
    // Scrolled up, the log fills to READING_LINES (nothing is above the screen to take).
    await sendUpTo(300);
    await scrollTo("0");
    await sendUpTo(READING_LINES + TRIM_STEP / 2);
    expect((await reader.lines()).length).toBeGreaterThan(READING_LINES);
    // Halfway down: thousands of lines above the screen, for the trims to take.
    await scrollTo("log.scrollHeight / 2");
    const read = await onScreen();
    expect(read.length).toBeGreaterThan(0);
    const firstBefore = (await reader.lines())[0];

    await sendUpTo(READING_LINES + 3 * TRIM_STEP);
    expect((await reader.lines())[0]).not.toBe(firstBefore); // lines above the screen went...
    expect(await onScreen()).toEqual(read); // ...and what the reader was reading did not move
    sender.close();
  });
});

describe("authentication", () => {
  test("on a server that requires tokens, the page passes on the token from its address", async () => {
    const secret = "a-test-secret-that-is-long-enough-0123456789";
    const guarded = await startServer(["--auth-secret", secret]);
    const token = await mintToken(secret, { sub: "web-user", ttlSeconds: 600 });
    const page = await open("tokened", {}, `http://127.0.0.1:${guarded.port}/?token=${token}`);
    await page.say("signed in");
    await page.waitForLine("tokened (you): signed in");
    // Without one, the upgrade is refused and the page says it could not connect.
    const refused = await browser.context.newPage();
    try {
      await refused.goto(`http://127.0.0.1:${guarded.port}/`);
      await refused.getByLabel("Name", { exact: true }).fill("nobody");
      await refused.getByRole("button", { name: "Connect" }).click();
      await refused.getByText("Could not connect to the chat server.").first().waitFor();
    } finally {
      await refused.close();
    }
    guarded.proc.kill("SIGKILL");
  });
});

describe("keyboard and small screens", () => {
  test("every field has a label and a person can connect, chat and switch rooms with the keyboard alone", async () => {
    const page = await browser.context.newPage();
    try {
      await page.goto(base);
      const unlabelled = await inPage(page, "[...document.querySelectorAll('input')].filter((i) => i.labels.length === 0).map((i) => i.id)");
      expect(unlabelled).toEqual([]);
      await page.keyboard.press("Tab");
      expect(await inPage(page, "document.activeElement?.id")).toBe("connect-name");
      await page.keyboard.type("keys");
      await page.keyboard.press("Enter");
      await page.getByText("Welcome, keys!").waitFor();
      // Connected: the message box has the focus.
      await page.keyboard.type("/join #typing");
      await page.keyboard.press("Enter");
      await page.getByText("keys joined #typing").waitFor();
      await page.keyboard.type("typed, not clicked");
      await page.keyboard.press("Enter");
      await page.getByText("keys (you): typed, not clicked").waitFor();
      await page.keyboard.press("Alt+ArrowUp");
      await page.getByRole("textbox", { name: "Message #lobby" }).waitFor();
      await page.keyboard.press("Alt+ArrowDown");
      await page.getByRole("textbox", { name: "Message #typing" }).waitFor();
      const unnamedButtons = await inPage(page, "[...document.querySelectorAll('button')].filter((b) => (b.getAttribute('aria-label') ?? b.textContent).trim() === '').length");
      expect(unnamedButtons).toBe(0);
    } finally {
      await page.close();
    }
  });

  test("on a phone-sized screen everything fits the width and the message box is on screen", async () => {
    const phone = await open("phone", { viewport: { width: 390, height: 780 } });
    await phone.say("/join #mobile");
    for (let i = 0; i < 30; i++) await phone.say(`line ${i} of a conversation long enough to need scrolling on a small screen`);
    await phone.waitForLine("line 29 of");
    const fit = await inPage<{ scroll: number; width: number }>(phone.page, "({ scroll: document.documentElement.scrollWidth, width: window.innerWidth })");
    expect(fit.scroll).toBeLessThanOrEqual(fit.width);
    expect(await phone.composer.isVisible()).toBe(true);
    const box = (await phone.composer.boundingBox())!;
    expect(box.y + box.height).toBeLessThanOrEqual(780);
    // Auto-scroll: the newest line is in view.
    expect(await phone.log.locator("li", { hasText: "line 29 of" }).isVisible()).toBe(true);
    const last = (await phone.log.locator("li", { hasText: "line 29 of" }).boundingBox())!;
    const log = (await phone.log.boundingBox())!;
    expect(last.y + last.height).toBeLessThanOrEqual(log.y + log.height + 1);
    mkdirSync(ARTIFACTS, { recursive: true });
    await phone.page.screenshot({ path: path.join(ARTIFACTS, "web-phone.png") });
  });
});

describe("reconnecting", () => {
  test("a reloaded page comes back as the same user in the same rooms, with their recent messages, and nobody sees it leave", async () => {
    const node = await startServer(["--grace", "30"]);
    const url = `http://127.0.0.1:${node.port}/`;
    const rita = await open("rita", {}, url);
    const sam = await TestClient.connect(`${node.url}/?name=sam`);
    await sam.welcome();
    sam.send("said in lobby");
    await rita.waitForLine("sam: said in lobby");
    await rita.say("/join side");
    await rita.waitForLine("rita joined #side");
    await rita.say("said in side");
    await rita.waitForLine("rita (you): said in side");

    await rita.page.reload();
    await rita.waitForLine("Welcome back, rita!");
    // Both rooms are back, each with its recent messages, once.
    await rita.waitForLine("rita (you): said in side");
    expect((await rita.lines()).filter((l) => l.endsWith("sam: said in lobby"))).toHaveLength(1);
    expect(await rita.page.getByLabel("Your name").inputValue()).toBe("rita");
    await rita.say("/join lobby");
    await rita.say("after the reload");
    await sam.next((f) => f.type === "message" && f.content === "after the reload");
    // Sam arrived after rita: any join or leave of hers in #lobby would come from the reload.
    expect(sam.frames.some((f) => f.type === "system" && (f.event === "join" || f.event === "leave") && f.name === "rita")).toBe(false);
    // Leaving the chat forgets the session: the next load asks for a name again.
    await rita.clickButton("Leave the chat");
    await rita.page.reload();
    await rita.page.getByLabel("Name", { exact: true }).waitFor();
    sam.close();
  });

  test("after the server restarts, the page resumes its session and shows every message once", async () => {
    const db = path.join(dir, "restart.db");
    const first = await startServer(["--db", db, "--grace", "30"]);
    const url = `http://127.0.0.1:${first.port}/`;
    const nora = await open("nora", {}, url);
    const oscar = await TestClient.connect(`${first.url}/?name=oscar`);
    await oscar.welcome();
    for (const text of ["before 1", "before 2"]) oscar.send(text);
    await nora.waitForLine("oscar: before 2");

    first.proc.kill("SIGTERM");
    expect(await first.proc.exited).toBe(0);
    await nora.waitForLine("Server is shutting down");
    await nora.waitForLine(/Connection lost \(1001\); reconnecting in \d+\.\d s, attempt 1/);
    // Typed while the server is away: held, and sent once it is back.
    await nora.say("typed while away");
    expect(await nora.page.locator("#status").textContent()).toContain("1 waiting to be sent");

    const second = await startServer(["--db", db, "--grace", "30", "--port", String(first.port)]);
    const pat = await TestClient.connect(`${second.url}/?name=pat`);
    await pat.welcome();
    pat.send("while nora was away");
    await nora.waitForLine("Reconnected to WebSocket server", 20_000);
    await nora.waitForLine("pat: while nora was away");
    await nora.waitForLine("nora (you): typed while away");
    await pat.next((f) => f.type === "message" && f.content === "typed while away");

    const lines = await nora.lines();
    for (const text of ["oscar: before 1", "oscar: before 2", "pat: while nora was away", "nora (you): typed while away"]) {
      expect(lines.filter((l) => l.endsWith(text))).toHaveLength(1);
    }
    const ids = (await nora.log.locator("li.message").evaluateAll((items) => items.map((li) => li.getAttribute("data-id")))).map(Number);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    // The same user came back quietly: same name, no "session had expired", nobody saw a leave or a join.
    expect(lines.join("\n")).not.toContain("session had expired");
    expect(pat.frames.some((f) => f.type === "system" && (f.event === "join" || f.event === "leave") && f.name === "nora")).toBe(false);
    expect(await nora.page.getByLabel("Your name").inputValue()).toBe("nora");
    // And the server stored the line once.
    pat.send(JSON.stringify({ type: "history", room: "lobby", limit: 500, ref: "all" }));
    await pat.next((f) => f.type === "ack" && f.ref === "all");
    const stored = pat.ofType("history").at(-1)!.messages.map((m) => m.content);
    expect(stored.filter((c) => c === "typed while away")).toHaveLength(1);
    oscar.close();
    pat.close();
  });
});

/** Evaluates an expression in the page. Written as text: this file is type-checked without the DOM's types. */
/** A plain WebSocket client of the test server, open. */
async function rawSender(query: string): Promise<WebSocket> {
  const socket = new WebSocket(`ws://127.0.0.1:${server.port}/${query}`);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  return socket;
}

function inPage<T = unknown>(page: Page, expression: string): Promise<T> {
  return page.evaluate(expression) as Promise<T>;
}

async function expectPeople(chat: ChatPage, names: string[], title: string): Promise<void> {
  await chat.page.locator("#people-title", { hasText: title }).waitFor();
  const deadline = Date.now() + 5000;
  let people = await chat.people();
  while (JSON.stringify(people) !== JSON.stringify(names) && Date.now() < deadline) {
    await Bun.sleep(50);
    people = await chat.people();
  }
  expect(people).toEqual(names);
}

describe("across a reconnect", () => {
  async function sendTo(client: TestClient, room: string, text: string): Promise<void> {
    client.send(JSON.stringify({ type: "message", room, content: text, ref: text }));
    await client.next((f) => f.type === "ack" && f.ref === text);
  }

  /**
   * A page named `name` in #lobby and #dev, served and connected through a proxy so that
   * its connection can be cut, and otto, connected directly, writing in #dev.
   */
  async function twoRoomsBehindProxy(name: string) {
    const server = await startServer(["--grace", "30"]);
    const proxy = await startProxy(server.port);
    const page = await ChatPage.connect(browser.context, `http://127.0.0.1:${proxy.port}/`, name);
    await page.say("/join #dev");
    await page.waitForLine(`${name} joined #dev`);
    const other = await TestClient.connect(`${server.url}/?name=otto&room=dev`);
    await other.welcome();
    return { server, proxy, page, other };
  }

  test("a room not shown keeps its unread count and counts what was missed; no one is announced as joining", async () => {
    const { proxy, page: kim, other } = await twoRoomsBehindProxy("kim");
    await kim.clickButton("#lobby");
    for (const text of ["dev 1", "dev 2", "dev 3"]) await sendTo(other, "dev", text);
    await kim.page.waitForFunction(`document.querySelector('button[data-room="dev"] .unread')?.textContent === "3"`);

    proxy.cut();
    // Sent while kim is away (the first retry is 0.5 s later): the re-join replays them.
    for (const text of ["dev 4", "dev 5"]) await sendTo(other, "dev", text);
    await kim.waitForLine("Reconnected to WebSocket server", 20_000);
    await kim.page.waitForFunction(`document.querySelector('button[data-room="dev"] .unread')?.textContent === "5"`, undefined, { timeout: 10_000 });
    // The room kim was reading stays the one shown, and nothing says kim joined rooms kim never left.
    expect(await kim.page.locator('button.room-tab[aria-current="true"]').textContent()).toBe("#lobby");
    expect((await kim.lines({ visibleOnly: true })).join("\n")).not.toMatch(/kim joined #/);
    other.close();
    await kim.close();
  });

  test("a reader scrolled up, with two rooms, keeps their place", async () => {
    const { proxy, page: lou, other } = await twoRoomsBehindProxy("lou");
    for (let i = 0; i < 100; i++) other.send(JSON.stringify({ type: "message", room: "dev", content: `line ${i}`, ref: `r${i}` }));
    await other.next((f) => f.type === "ack" && f.ref === "r99");
    await lou.waitForLine("otto: line 99");
    const scrollTop = () => inPage<number>(lou.page, `document.querySelector("#messages").scrollTop`);
    await inPage(lou.page, `document.querySelector("#messages").scrollTop = 200`);
    const before = await scrollTop();
    proxy.cut();
    await lou.waitForLine("Reconnected to WebSocket server", 20_000);
    other.send(JSON.stringify({ type: "message", room: "dev", content: "after", ref: "after" }));
    await lou.waitForLine("otto: after");
    // Switching rooms during the re-join used to scroll to the end (2,000 px and more).
    const after = await scrollTop();
    expect(Math.abs(after - before)).toBeLessThan(100);
    other.close();
    await lou.close();
  });

  test("a connection the server still holds: the page comes back to its own rooms, and the room it left hears nothing", async () => {
    const { server, proxy, page: pia, other } = await twoRoomsBehindProxy("pia");
    const watcher = await TestClient.connect(`${server.url}/?name=watcher`);
    await watcher.welcome();
    await pia.say("/leave #lobby");
    await watcher.next((f) => f.type === "system" && f.event === "leave" && f.name === "pia");
    // The network dies without a word: the server still holds pia's old connection.
    proxy.abandon();
    await pia.waitForLine("Reconnected to WebSocket server", 20_000);
    await pia.say("back in dev");
    await other.next((f) => f.type === "message" && f.room === "dev" && f.content === "back in dev");
    expect(await pia.page.locator("button.room-tab").allTextContents()).toEqual(["#dev"]);
    watcher.send(JSON.stringify({ type: "ping" }));
    await watcher.next((f) => f.type === "pong");
    expect(watcher.frames.filter((f) => f.type === "system" && f.event === "join" && f.name === "pia")).toEqual([]);
    watcher.close();
    other.close();
    await pia.close();
  });

  test('"Leave the chat" while the page waits to reconnect ends the session and shows the connect screen', async () => {
    const server = await startServer(["--grace", "30"]);
    const proxy = await startProxy(server.port);
    const mo = await ChatPage.connect(browser.context, `http://127.0.0.1:${proxy.port}/`, "mo");
    // The connection drops and every attempt to come back fails (the server is gone).
    server.proc.kill("SIGKILL");
    await mo.waitForLine(/reconnecting in .* attempt 2/, 10_000);
    await mo.clickButton("Leave the chat");
    await mo.page.locator("#connect-screen").waitFor({ state: "visible", timeout: 5000 });
    expect(await mo.page.locator("#chat-screen").isHidden()).toBe(true);
    await mo.close();
  });
});
