/**
 * The simulator's softphone page in headless Chromium, driven the way a person would (clicks,
 * keys), with a fake microphone playing a tone. `window.softphone` (the page's test surface) gives
 * the state, the meters and a recording of what the page plays. Screenshots and layout checks are
 * `page-layout.ts`'s.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { launchTestChromium } from './chromium.js';
import { writeToneWav } from './tone-wav-file.js';

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

  /** Closes the browser and its scratch files; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.context.close().catch(() => undefined);
      await rm(this.scratchDir, { recursive: true, force: true });
    })();
    return this.closing;
  }
}
