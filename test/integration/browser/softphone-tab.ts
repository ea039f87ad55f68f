/**
 * The simulator's softphone page in headless Chromium, driven the way a person would (clicks,
 * keys), with a fake microphone playing a tone. `window.softphone` (the page's test surface) gives
 * the state, the meters and a recording of what the page plays. Screenshots and layout checks for
 * the states of the page go under test-output/softphone/.
 */
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { launchTestChromium } from './chromium.js';
import { writeToneWav } from './tone-wav-file.js';

/** Where screenshots go (git-ignored). */
export const SCREENSHOT_DIR = fileURLToPath(
  new URL('../../../test-output/softphone/', import.meta.url),
);

/** What `window.softphone.state()` returns. */
export interface SoftphoneState {
  view: 'idle' | 'ready' | 'outgoing' | 'incoming' | 'connecting' | 'active';
  session: string | null;
  user: { phoneNumber: string | null; userId: string; username: string | null } | null;
  callId: string | null;
  callState: string | null;
  connection: string | null;
  sentDigits: string;
  heardDigits: string;
}

/** Layout facts of the page as rendered. */
export interface LayoutReport {
  viewport: { width: number; height: number };
  /** The document's scrollable size (larger than the viewport = something overflows). */
  document: { width: number; height: number };
  /** Visible elements that stick out of the viewport. */
  outside: string[];
  /** Visible text whose computed size is below 14 px. */
  smallText: string[];
  /** Visible, enabled controls that Tab never reaches. */
  unreachable: string[];
}

/** The page's test surface, as seen from functions that run in the page. */
interface SoftphoneWindow {
  softphone: { state(): SoftphoneState };
}

function pageState(): SoftphoneState {
  return (globalThis as unknown as SoftphoneWindow).softphone.state();
}

export class SoftphoneTab {
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly context: BrowserContext,
    readonly page: Page,
    private readonly scratchDir: string,
  ) {}

  /** Chromium at 1280×800 with a microphone saying `toneHz`, on the softphone at `url`. */
  static async open(url: string, options: { toneHz: number }): Promise<SoftphoneTab> {
    const scratchDir = await mkdtemp(join(tmpdir(), 'softphone-'));
    const wav = join(scratchDir, `tone-${options.toneHz}.wav`);
    await writeToneWav(wav, { frequencyHz: options.toneHz, sampleRate: 48_000, seconds: 2 });
    let context: BrowserContext | undefined;
    try {
      context = await launchTestChromium({
        scratchDir,
        fakeAudioFile: wav,
        viewport: { width: 1280, height: 800 },
      });
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(url);
      return new SoftphoneTab(context, page, scratchDir);
    } catch (err) {
      await context?.close();
      await rm(scratchDir, { recursive: true, force: true });
      throw err;
    }
  }

  state(): Promise<SoftphoneState> {
    return this.page.evaluate(pageState);
  }

  /** Meter levels, dBFS. */
  levels(): Promise<{ sent: number | null; heard: number | null }> {
    // -Infinity does not survive serialisation; it comes back as null.
    return this.page.evaluate<{ sent: number | null; heard: number | null }>(
      '(() => { const l = window.softphone.levels(); return { sent: Number.isFinite(l.sent) ? l.sent : null, heard: Number.isFinite(l.heard) ? l.heard : null }; })()',
    );
  }

  /** What the page plays for `ms` milliseconds. */
  async recordHeard(ms: number): Promise<{ pcm: Int16Array; sampleRate: number }> {
    const heard = await this.page.evaluate<{ sampleRate: number; pcm: string }>(
      `window.softphone.recordHeard(${ms})`,
    );
    // A copy: a decoded Buffer may sit at an odd offset of Node's pool.
    const bytes = Uint8Array.from(Buffer.from(heard.pcm, 'base64'));
    return {
      pcm: new Int16Array(bytes.buffer, 0, bytes.length >> 1),
      sampleRate: heard.sampleRate,
    };
  }

  /** Becomes the phone of `user` through the form, as a person would. */
  async useUser(user: string, username?: string): Promise<SoftphoneState> {
    await this.page.locator('#user-input').fill(user);
    await this.page.locator('#username-input').fill(username ?? '');
    await this.page.getByRole('button', { name: 'Use this phone' }).click();
    // Predicates are functions, not strings: the page's CSP forbids eval.
    await this.page.waitForFunction(
      ([name, digits]) => {
        const s = (globalThis as unknown as SoftphoneWindow).softphone.state();
        return (
          s.view === 'ready' &&
          s.user !== null &&
          (s.user.userId === name || s.user.phoneNumber === digits)
        );
      },
      [user, user.replace(/\D/g, '')],
      { timeout: 15_000 },
    );
    return this.state();
  }

  /** Resolves with the state once the page shows `view`. */
  async waitForView(view: SoftphoneState['view'], timeoutMs = 15_000): Promise<SoftphoneState> {
    await this.page.waitForFunction(
      (expected) => (globalThis as unknown as SoftphoneWindow).softphone.state().view === expected,
      view,
      { timeout: timeoutMs },
    );
    return this.state();
  }

  async click(button: string): Promise<void> {
    await this.page.getByRole('button', { name: button, exact: true }).click();
  }

  /** Saves a 1280×800 screenshot as test-output/softphone/<name>.png; returns its path. */
  async screenshot(name: string): Promise<string> {
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    const path = join(SCREENSHOT_DIR, `${name}.png`);
    // No focus ring left over from earlier keyboard checks in the picture.
    await this.page.evaluate('document.activeElement && document.activeElement.blur()');
    await this.page.screenshot({ path });
    return path;
  }

  /** Overflow, text size and keyboard reach of what the page shows now. */
  async layout(): Promise<LayoutReport> {
    const report = await this.page.evaluate<Omit<LayoutReport, 'unreachable'>>(`(() => {
      const describe = (e) => e.id ? '#' + e.id : e.tagName.toLowerCase() + (e.textContent ? ' "' + e.textContent.trim().slice(0, 30) + '"' : '');
      const visible = (e) => {
        const r = e.getBoundingClientRect();
        const s = getComputedStyle(e);
        return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
      };
      const all = [...document.body.querySelectorAll('*')].filter(visible);
      // Content scrolled inside a scroll box (the event log) is clipped by it, not overflowing.
      const scrolledInside = (e) => {
        for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
          if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowY)) return true;
        }
        return false;
      };
      const outside = all
        .filter((e) => !scrolledInside(e))
        .filter((e) => { const r = e.getBoundingClientRect(); return r.left < -1 || r.top < -1 || r.right > innerWidth + 1 || r.bottom > innerHeight + 1; })
        .map(describe);
      const smallText = all
        .filter((e) => [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim() !== ''))
        .filter((e) => parseFloat(getComputedStyle(e).fontSize) < 14)
        .map((e) => describe(e) + ' ' + getComputedStyle(e).fontSize);
      return {
        viewport: { width: innerWidth, height: innerHeight },
        document: { width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight },
        outside,
        smallText,
      };
    })()`);
    return { ...report, unreachable: await this.unreachableByTab() };
  }

  /** Tabs through the page from the top and lists the controls focus never landed on. */
  private async unreachableByTab(): Promise<string[]> {
    const controls = await this.page.evaluate<string[]>(`(() => {
      const visible = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; };
      let n = 0;
      return [...document.querySelectorAll('button, input, select, a[href], [tabindex]')]
        .filter((e) => visible(e) && !e.disabled && e.tabIndex >= 0)
        .map((e) => { e.dataset.tabProbe = String(n++); return e.dataset.tabProbe; });
    })()`);
    const reached = new Set<string>();
    await this.page.evaluate('document.activeElement && document.activeElement.blur()');
    await this.page.evaluate('window.scrollTo(0, 0)');
    for (let i = 0; i < controls.length + 5; i++) {
      await this.page.keyboard.press('Tab');
      const probe = await this.page.evaluate<string | null>(
        'document.activeElement ? document.activeElement.dataset.tabProbe ?? null : null',
      );
      if (probe !== null) reached.add(probe);
    }
    const missing = controls.filter((c) => !reached.has(c));
    return this.page.evaluate<string[]>(
      `${JSON.stringify(missing)}.map((p) => { const e = document.querySelector('[data-tab-probe="' + p + '"]'); return e.id || e.textContent.trim(); })`,
    );
  }

  /** Closes the browser and its scratch files; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.context.close().catch(() => undefined);
      await rm(this.scratchDir, { recursive: true, force: true });
    })();
    return this.closing;
  }
}
