// A headless Chromium for the browser tests, driven by playwright-core with the system's own
// Chromium (Debian's `chromium`; playwright downloads no browser here). The tests open a page,
// evaluate JavaScript in it, wait for conditions and reload it.
import * as fs from "node:fs";
import { chromium, type Browser as PwBrowser, type Page } from "playwright-core";

export const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].find((f) => fs.existsSync(f));

export class Browser {
  /** Console messages and uncaught exceptions of the page, for failure messages. */
  readonly console: string[] = [];
  private constructor(
    private browser: PwBrowser,
    private page: Page,
  ) {
    page.on("console", (m) => this.console.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => this.console.push(`exception: ${e.message}`));
  }

  static async launch(): Promise<Browser> {
    if (!CHROMIUM) throw new Error("no Chromium here (Debian: apt-get install chromium)");
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    return new Browser(browser, page);
  }

  async goto(url: string): Promise<void> {
    await this.page.goto(url, { waitUntil: "commit" });
  }

  async reload(): Promise<void> {
    await this.page.reload({ waitUntil: "commit" });
  }

  /** The value of a JavaScript expression in the page (promises awaited). */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    try {
      return (await this.page.evaluate(expression)) as T;
    } catch (e) {
      throw new Error(`in the page: ${(e as Error).message.split("\n")[0]}`);
    }
  }

  /** Evaluate `expression` every half second until it is truthy; its value, or an error after
   * `timeoutMs` that says what was awaited and what the page last gave. */
  async waitFor<T = unknown>(what: string, expression: string, timeoutMs: number): Promise<T> {
    const t0 = Date.now();
    let last: unknown;
    for (;;) {
      try {
        last = await this.evaluate<T>(expression);
        if (last) return last as T;
      } catch (e) {
        last = (e as Error).message; // the page is loading: its context changes under us
      }
      if (Date.now() - t0 > timeoutMs)
        throw new Error(
          `waited ${timeoutMs / 1000} s for ${what}; last: ${JSON.stringify(last)}; page console:\n  ${this.console.slice(-15).join("\n  ")}`,
        );
      await new Promise((res) => setTimeout(res, 500));
    }
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}
