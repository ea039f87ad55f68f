/**
 * What the browser tests check of every page they capture, whatever the page (the softphone, the
 * operator console): a screenshot a person can look at (under test-output/, git-ignored), and
 * layout basics — nothing overflows the viewport, no text is smaller than 14 px, and every visible
 * control is reachable with Tab.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';

/** The test output directory of the repository (git-ignored). */
export const TEST_OUTPUT_DIR = fileURLToPath(new URL('../../../test-output/', import.meta.url));

/** Smallest legible text, CSS pixels. */
export const MIN_TEXT_PX = 14;

/** Layout facts of the page as rendered. */
export interface LayoutReport {
  viewport: { width: number; height: number };
  /** The document's scrollable size (larger than the viewport = something overflows). */
  document: { width: number; height: number };
  /** Visible elements that stick out of the viewport (content of scroll boxes excepted). */
  outside: string[];
  /** Scroll boxes whose content is wider than they are (a sideways scroll bar). */
  scrollsSideways: string[];
  /** Visible text whose computed size is below {@link MIN_TEXT_PX}. */
  smallText: string[];
  /** Visible, enabled controls that Tab never reaches. */
  unreachable: string[];
}

/** Saves a screenshot as `<dir>/<name>.png` (dir under test-output/); returns its path. */
export async function saveScreenshot(page: Page, dir: string, name: string): Promise<string> {
  const target = join(TEST_OUTPUT_DIR, dir);
  mkdirSync(target, { recursive: true });
  const path = join(target, `${name}.png`);
  // No focus ring left over from earlier keyboard checks in the picture.
  await page.evaluate('document.activeElement && document.activeElement.blur()');
  await page.screenshot({ path });
  return path;
}

/** Overflow, text size and keyboard reach of what the page shows now. */
export async function measureLayout(page: Page): Promise<LayoutReport> {
  const report = await page.evaluate<Omit<LayoutReport, 'unreachable'>>(`(() => {
    const describe = (e) => e.id ? '#' + e.id : e.tagName.toLowerCase() + (e.textContent ? ' "' + e.textContent.trim().slice(0, 30) + '"' : '');
    const visible = (e) => {
      const r = e.getBoundingClientRect();
      const s = getComputedStyle(e);
      return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
    };
    const all = [...document.body.querySelectorAll('*')].filter(visible);
    // Content scrolled inside a scroll box (an event log, a page's main area) is clipped by it,
    // not overflowing.
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
    const scrollsSideways = all
      .filter((e) => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX) && e.scrollWidth > e.clientWidth + 1)
      .map(describe);
    const smallText = all
      .filter((e) => [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim() !== ''))
      .filter((e) => parseFloat(getComputedStyle(e).fontSize) < ${MIN_TEXT_PX})
      .map((e) => describe(e) + ' ' + getComputedStyle(e).fontSize);
    return {
      viewport: { width: innerWidth, height: innerHeight },
      document: { width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight },
      outside,
      scrollsSideways,
      smallText,
    };
  })()`);
  return { ...report, unreachable: await unreachableByTab(page) };
}

/** Tabs through the page from the top and lists the controls focus never landed on. */
async function unreachableByTab(page: Page): Promise<string[]> {
  const controls = await page.evaluate<string[]>(`(() => {
    const visible = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; };
    let n = 0;
    return [...document.querySelectorAll('button, input, select, textarea, a[href], [tabindex]')]
      .filter((e) => visible(e) && !e.disabled && e.tabIndex >= 0)
      .map((e) => { e.dataset.tabProbe = String(n++); return e.dataset.tabProbe; });
  })()`);
  const reached = new Set<string>();
  await page.evaluate('document.activeElement && document.activeElement.blur()');
  await page.evaluate('window.scrollTo(0, 0)');
  for (let i = 0; i < controls.length + 5; i++) {
    await page.keyboard.press('Tab');
    const probe = await page.evaluate<string | null>(
      'document.activeElement ? document.activeElement.dataset.tabProbe ?? null : null',
    );
    if (probe !== null) reached.add(probe);
  }
  const missing = controls.filter((c) => !reached.has(c));
  return page.evaluate<string[]>(
    `${JSON.stringify(missing)}.map((p) => { const e = document.querySelector('[data-tab-probe="' + p + '"]'); return e ? (e.id || e.textContent.trim()) : p; })`,
  );
}

/**
 * Captures the page as `<dir>/<name>.png` and asserts the layout basics at `viewport`: it fits,
 * it reads, and Tab reaches every control.
 */
export async function captureAndCheckLayout(
  page: Page,
  dir: string,
  name: string,
  viewport = { width: 1280, height: 800 },
): Promise<LayoutReport> {
  await saveScreenshot(page, dir, name);
  const layout = await measureLayout(page);
  assert.deepEqual(layout.viewport, viewport, name);
  assert.ok(
    layout.document.width <= layout.viewport.width &&
      layout.document.height <= layout.viewport.height,
    `${name}: the page (${layout.document.width}×${layout.document.height}) overflows ${viewport.width}×${viewport.height}`,
  );
  assert.deepEqual(layout.outside, [], `${name}: elements outside the viewport`);
  assert.deepEqual(layout.scrollsSideways, [], `${name}: content wider than its box`);
  assert.deepEqual(layout.smallText, [], `${name}: text below ${MIN_TEXT_PX} px`);
  assert.deepEqual(layout.unreachable, [], `${name}: controls Tab does not reach`);
  return layout;
}
