import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import CDP from 'chrome-remote-interface';

/**
 * A page in Debian's headless Chromium, driven over the DevTools protocol with real input events (what a
 * person's mouse does), for the tests of attnflow's offline HTML. Chromium's own networking is switched off as
 * on this machine's probe; every request the page makes is recorded.
 */
export interface Page {
  /** The value of a JavaScript expression evaluated in the page. */
  evaluate<T>(expression: string): Promise<T>;
  /** Moves the mouse to the middle of the element, then clicks (or only moves, for hover). */
  click(selector: string): Promise<void>;
  hover(selector: string): Promise<void>;
  /** A PNG of the element's box. */
  screenshot(selector: string): Promise<Buffer>;
  /** Every URL the page requested so far. */
  requests: string[];
  close(): Promise<void>;
}

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

export async function openPage(url: string): Promise<Page> {
  if (!CHROMIUM) throw new Error('Debian chromium is missing (test/setup.sh installs it)');
  const profile = mkdtempSync(join(tmpdir(), 'attnflow-chromium-'));
  const browser = spawn(CHROMIUM, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--remote-debugging-port=0', 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  const port = await new Promise<number>((resolve, reject) => {
    let err = '';
    browser.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /DevTools listening on ws:\/\/[^:]+:(\d+)\//.exec(err);
      if (m) resolve(Number(m[1]));
    });
    browser.on('exit', (code) => reject(new Error(`chromium exited (${code}) before it listened:\n${err}`)));
  });
  const client = await CDP({ port, host: '127.0.0.1' });
  const { Page, Runtime, Network, Input } = client;
  const requests: string[] = [];
  Network.requestWillBeSent((e) => requests.push(e.request.url));
  await Promise.all([Page.enable(), Runtime.enable(), Network.enable()]);
  const loaded = Page.loadEventFired();
  await Page.navigate({ url });
  await loaded;
  const evaluate = async <T>(expression: string): Promise<T> => {
    const r = await Runtime.evaluate({ expression, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  };
  const box = (selector: string) =>
    evaluate<{ x: number; y: number; width: number; height: number } | null>(
      `(() => { const r = document.querySelector(${JSON.stringify(selector)})?.getBoundingClientRect(); return r && { x: r.x, y: r.y, width: r.width, height: r.height }; })()`,
    ).then((b) => {
      if (!b) throw new Error(`no element ${selector} in the page`);
      return b;
    });
  const moveTo = async (selector: string) => {
    const b = await box(selector);
    const at = { x: b.x + b.width / 2, y: b.y + b.height / 2 };
    await Input.dispatchMouseEvent({ type: 'mouseMoved', ...at });
    return at;
  };
  return {
    evaluate,
    requests,
    async click(selector) {
      const at = await moveTo(selector);
      await Input.dispatchMouseEvent({ type: 'mousePressed', button: 'left', clickCount: 1, ...at });
      await Input.dispatchMouseEvent({ type: 'mouseReleased', button: 'left', clickCount: 1, ...at });
    },
    async hover(selector) {
      await moveTo(selector);
    },
    async screenshot(selector) {
      const clip = { ...(await box(selector)), scale: 1 };
      return Buffer.from((await Page.captureScreenshot({ format: 'png', clip })).data, 'base64');
    },
    async close() {
      await client.close();
      browser.kill();
      await new Promise((r) => browser.once('exit', r));
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
