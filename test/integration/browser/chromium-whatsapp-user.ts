/**
 * Headless Chromium as the WhatsApp user's phone: an independent libwebrtc stack that terminates
 * the media of a user-initiated call the way Meta's relay would, with a fake microphone playing a
 * tone from a WAV file. The page is served from a loopback HTTP server (a secure context, so
 * getUserMedia works) and driven through `window.whatsappUser` (see whatsapp-user-page.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { launchTestChromium } from './chromium.js';
import { writeToneWav } from './tone-wav-file.js';
import { WHATSAPP_USER_PAGE_HTML } from './whatsapp-user-page.js';
import {
  toBrowserAnswer,
  toWhatsAppOffer,
  type WhatsAppShapedOffer,
} from './whatsapp-shaped-offer.js';

export interface ChromiumWhatsAppUserOptions {
  /** Tone the user's fake microphone plays, Hz. */
  toneHz: number;
}

/** ICE, DTLS and overall state of the page's peer connection, as the browser reports them. */
export interface BrowserConnectionStates {
  connection: string;
  ice: string;
  dtls: string;
}

export class ChromiumWhatsAppUser {
  private browserMid: string | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly context: BrowserContext,
    readonly page: Page,
    private readonly pageServer: Server,
    private readonly scratchDir: string,
  ) {}

  /** Launches Chromium with a fresh profile and opens the phone page. */
  static async launch(options: ChromiumWhatsAppUserOptions): Promise<ChromiumWhatsAppUser> {
    const scratchDir = await mkdtemp(join(tmpdir(), 'chromium-wa-user-'));
    const wav = join(scratchDir, `tone-${options.toneHz}.wav`);
    await writeToneWav(wav, { frequencyHz: options.toneHz, sampleRate: 48_000, seconds: 2 });
    const pageServer = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(WHATSAPP_USER_PAGE_HTML);
    });
    await new Promise<void>((resolve, reject) => {
      pageServer.once('error', reject);
      pageServer.listen(0, '127.0.0.1', () => resolve());
    });
    let context: BrowserContext | undefined;
    try {
      context = await launchTestChromium({ scratchDir, fakeAudioFile: wav });
      const page = context.pages()[0] ?? (await context.newPage());
      const { port } = pageServer.address() as AddressInfo;
      await page.goto(`http://127.0.0.1:${port}/`);
      return new ChromiumWhatsAppUser(context, page, pageServer, scratchDir);
    } catch (err) {
      await context?.close();
      await new Promise<void>((resolve) => pageServer.close(() => resolve()));
      await rm(scratchDir, { recursive: true, force: true });
      throw err;
    }
  }

  /** The browser's offer (gathered, complete), rewritten into WhatsApp's shape. */
  async createWhatsAppOffer(): Promise<WhatsAppShapedOffer> {
    const browserSdp = await this.page.evaluate<string>('window.whatsappUser.createOffer()');
    const offer = toWhatsAppOffer(browserSdp);
    this.browserMid = offer.browserMid;
    return offer;
  }

  /** Applies the business's answer (written for WhatsApp's mid) to the page's connection. */
  async applyAnswer(answerSdp: string): Promise<void> {
    if (this.browserMid === undefined) throw new Error('createWhatsAppOffer() was not called');
    const sdp = toBrowserAnswer(answerSdp, this.browserMid);
    await this.page.evaluate(`window.whatsappUser.applyAnswer(${JSON.stringify(sdp)})`);
  }

  async states(): Promise<BrowserConnectionStates> {
    return this.page.evaluate<BrowserConnectionStates>('window.whatsappUser.states()');
  }

  /** What the user hears: the remote track's PCM for `ms` milliseconds (first channel). */
  async recordHeard(ms: number): Promise<{ pcm: Int16Array; sampleRate: number }> {
    const heard = await this.page.evaluate<{ sampleRate: number; samples: number[] }>(
      `window.whatsappUser.recordRemote(${ms})`,
    );
    return { pcm: Int16Array.from(heard.samples), sampleRate: heard.sampleRate };
  }

  /** Presses `tones` on the keypad (RTCDTMFSender); resolves when the last one was sent. */
  async pressDigits(tones: string): Promise<void> {
    await this.page.evaluate(`window.whatsappUser.sendDtmf(${JSON.stringify(tones)})`);
  }

  /** Closes the browser, the page server and the scratch files; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.context.close().catch(() => undefined);
      await new Promise<void>((resolve) => this.pageServer.close(() => resolve()));
      await rm(this.scratchDir, { recursive: true, force: true });
    })();
    return this.closing;
  }
}
