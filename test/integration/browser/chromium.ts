/**
 * Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by playwright-core,
 * a fresh profile, loopback-only WebRTC, a fake microphone playing a WAV file and the permission
 * prompt auto-accepted. Nothing leaves the machine.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Installs Debian's chromium with the project's tool script when it is missing. */
export function ensureChromium(): void {
  if (existsSync(CHROMIUM_PATH)) return;
  const script = fileURLToPath(new URL('../../../scripts/install-tools.sh', import.meta.url));
  execFileSync(script, ['chromium'], { stdio: 'inherit' });
}

export interface TestChromiumOptions {
  /** Scratch directory; the profile goes to `<dir>/profile`. */
  scratchDir: string;
  /** WAV file the fake microphone plays in a loop; without it Chromium's own fake beeps. */
  fakeAudioFile?: string;
  /** Page size, CSS pixels. Default playwright's 1280×720. */
  viewport?: { width: number; height: number };
}

/** Launches Chromium with a fresh profile; close the returned context to stop it. */
export async function launchTestChromium(options: TestChromiumOptions): Promise<BrowserContext> {
  ensureChromium();
  // A persistent context is how playwright takes a fresh --user-data-dir of our own.
  return chromium.launchPersistentContext(join(options.scratchDir, 'profile'), {
    executablePath: CHROMIUM_PATH,
    headless: true,
    ...(options.viewport ? { viewport: options.viewport } : {}),
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Without it Chromium gathers no candidate when loopback is the only way.
      '--allow-loopback-in-peer-connection',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      ...(options.fakeAudioFile
        ? [`--use-file-for-fake-audio-capture=${options.fakeAudioFile}`]
        : []),
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}
