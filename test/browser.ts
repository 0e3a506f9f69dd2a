// A headless Chromium driven over the DevTools protocol, through the pipe Chromium opens on file
// descriptors 3 (its input) and 4 (its output) with --remote-debugging-pipe: messages are JSON,
// each ended by a NUL byte. No WebSocket and no browser-automation package: the tests need to
// open a page, evaluate JavaScript in it, and reload it.
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Readable, Writable } from "node:stream";

export const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].find((f) => fs.existsSync(f));

interface Pending {
  resolve: (v: any) => void;
  reject: (e: Error) => void;
  method: string;
}

export class Browser {
  private next = 1;
  private pending = new Map<number, Pending>();
  private session = "";
  /** Console messages and uncaught exceptions of the page, for failure messages. */
  readonly console: string[] = [];
  private constructor(private proc: ChildProcess, private profileDir: string) {}

  static async launch(): Promise<Browser> {
    if (!CHROMIUM) throw new Error("no Chromium here (Debian: apt-get install chromium)");
    const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), "rr-chromium-"));
    const proc = spawn(CHROMIUM, ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--remote-debugging-pipe", `--user-data-dir=${profileDir}`, "--window-size=1400,1000", "about:blank"], { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"], detached: true });
    const b = new Browser(proc, profileDir);
    let buffered = "";
    (proc.stdio[4] as Readable).on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      let end: number;
      while ((end = buffered.indexOf("\0")) >= 0) {
        b.receive(JSON.parse(buffered.slice(0, end)));
        buffered = buffered.slice(end + 1);
      }
    });
    proc.on("exit", (code) => {
      for (const p of b.pending.values()) p.reject(new Error(`Chromium exited (${code}) during ${p.method}`));
      b.pending.clear();
    });
    const { targetInfos } = await b.send("Target.getTargets");
    const page = targetInfos.find((t: { type: string }) => t.type === "page");
    const { sessionId } = await b.send("Target.attachToTarget", { targetId: page.targetId, flatten: true });
    b.session = sessionId;
    await b.send("Page.enable");
    await b.send("Runtime.enable");
    return b;
  }

  private receive(msg: any): void {
    if (msg.id !== undefined) {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
      else p.resolve(msg.result);
    } else if (msg.method === "Runtime.consoleAPICalled") {
      this.console.push(`${msg.params.type}: ${msg.params.args.map((a: { value?: unknown; description?: string }) => a.value ?? a.description).join(" ")}`);
    } else if (msg.method === "Runtime.exceptionThrown") {
      this.console.push(`exception: ${msg.params.exceptionDetails.exception?.description ?? msg.params.exceptionDetails.text}`);
    }
  }

  private send(method: string, params: object = {}, session = method.startsWith("Target.") ? "" : this.session): Promise<any> {
    const id = this.next++;
    const msg = { id, method, params, ...(session ? { sessionId: session } : {}) };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      (this.proc.stdio[3] as Writable).write(JSON.stringify(msg) + "\0");
    });
  }

  async goto(url: string): Promise<void> {
    await this.send("Page.navigate", { url });
  }

  async reload(): Promise<void> {
    await this.send("Page.reload", { ignoreCache: false });
  }

  /** The value of a JavaScript expression in the page (promises awaited). */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
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
      if (Date.now() - t0 > timeoutMs) throw new Error(`waited ${timeoutMs / 1000} s for ${what}; last: ${JSON.stringify(last)}; page console:\n  ${this.console.slice(-15).join("\n  ")}`);
      await new Promise((res) => setTimeout(res, 500));
    }
  }

  async close(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise((res) => this.proc.once("exit", res));
      this.proc.kill("SIGKILL");
      await exited;
    }
    // Chromium's helper processes outlive the browser and still write into the profile (clean-
    // clone and loaded runs failed here with ENOTEMPTY): the browser leads its own process group
    // (detached), so the whole group goes, then the removal retries for a while.
    try {
      if (this.proc.pid) process.kill(-this.proc.pid, "SIGKILL");
    } catch {
      // the group is already gone
    }
    fs.rmSync(this.profileDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  }
}
