// A real browser for the page's tests: Debian's headless Chromium driven by
// playwright-core, with a fresh profile, loopback only, and a ChatPage that does
// what a person does on the page (fill the labelled fields, press Enter, read the log).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Locator, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

// Without these, Chromium on a machine with no internet stalls on first-run work,
// background updates and QUIC probes.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Starts Chromium with a profile of its own; throws, naming the fix, when it is not installed. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM}: the browser tests need it (apt-get install chromium; .ci/run installs it)`);
  }
  const profile = mkdtempSync(path.join(tmpdir(), "chat-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
    viewport: { width: 1100, height: 680 },
    locale: "en-GB",
  });
  context.setDefaultTimeout(10_000);
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** One person on the chat page. */
export class ChatPage {
  /** Errors thrown by the page's own script: a test fails on any. */
  readonly errors: string[] = [];

  private constructor(readonly page: Page) {
    page.on("pageerror", (error) => this.errors.push(error.message));
  }

  /** Opens the page at `baseUrl` (http://127.0.0.1:PORT/) and connects as `name`. */
  static async connect(context: BrowserContext, baseUrl: string, name: string, options: { room?: string; viewport?: { width: number; height: number } } = {}): Promise<ChatPage> {
    const page = await context.newPage();
    if (options.viewport) await page.setViewportSize(options.viewport);
    const chat = new ChatPage(page);
    await page.goto(baseUrl);
    await page.getByLabel("Name", { exact: true }).fill(name);
    if (options.room !== undefined) await page.getByLabel("First room").fill(options.room);
    await chat.clickButton("Connect");
    await chat.waitForLine(`Welcome, ${name}!`);
    return chat;
  }

  get log(): Locator {
    return this.page.locator("#messages");
  }

  get composer(): Locator {
    return this.page.getByRole("textbox", { name: /^Message/ });
  }

  /** Types a line into the message box and presses Enter. */
  async say(line: string): Promise<void> {
    await this.composer.fill(line);
    await this.composer.press("Enter");
  }

  /**
   * Clicks a button by its accessible name (exactly, for a string). The page comes to
   * the front first: a background tab gets no animation frames, and Playwright's
   * check that a button is still falls back to a slow timer there.
   */
  async clickButton(name: string | RegExp): Promise<void> {
    await this.page.bringToFront();
    await this.page.getByRole("button", { name, exact: typeof name === "string" }).click();
  }

  /** Waits until a visible line of the log contains `text`. */
  async waitForLine(text: string | RegExp, timeout = 10_000): Promise<void> {
    await this.log.locator("li:not([hidden])", { hasText: text }).first().waitFor({ timeout });
  }

  /** The text of every line of the log, shown or not (lines of other rooms are hidden). */
  lines(options: { visibleOnly?: boolean } = {}): Promise<string[]> {
    const selector = options.visibleOnly ? "#messages li:not([hidden])" : "#messages li";
    return this.page.locator(selector).allTextContents();
  }

  /** The names listed under "In #room", in order. */
  people(): Promise<string[]> {
    return this.page.locator("#people li").allTextContents();
  }

  async close(): Promise<void> {
    await this.page.close().catch(() => {});
  }
}
