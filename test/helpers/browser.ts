// A real browser for the tests that open the browser console (src/api/web-page.ts): Debian's Chromium, headless,
// driven by playwright-core; and what they read back from the page: its canvas's pixels, its serial pane, and the
// errors its script or its content security policy raised.
import * as fs from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { untilAsync } from './wait';

export const CHROMIUM = '/usr/bin/chromium';
/** Chromium can take a long time to start on a small, busy machine. */
export const LAUNCH_MS = 180_000;

/** Why no browser can be opened here, or undefined. */
export function chromiumMissing(): string | undefined {
  return fs.existsSync(CHROMIUM) ? undefined
    : `${CHROMIUM} is absent (Debian's chromium package): the browser console is not tried in a real browser`;
}

export async function launchChromium(timeout = LAUNCH_MS): Promise<Browser> {
  // The tests run as root in CI, and Chromium's sandbox refuses to start as root.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'], timeout });
}

/** The page's script errors and console errors (a content security policy refusal is one), as they come. */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (e) => { problems.push(`script error: ${e.message}`); });
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  return problems;
}

export interface CanvasPixels {
  width: number;
  height: number;
  /** Rows top to bottom, each pixel R, G, B, A. */
  rgba: Buffer;
}

// Runs in the page (the tests compile without the DOM's types, so it is text): the canvas's pixels as base64, in
// slices small enough for fromCharCode's arguments.
const READ_CANVAS = `(() => {
  const c = document.getElementById('screen');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = '';
  for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
  return { width: c.width, height: c.height, base64: btoa(s) };
})()`;

/** What the console page's canvas holds now. */
export async function canvasPixels(page: Page): Promise<CanvasPixels> {
  const got = await page.evaluate<{ width: number; height: number; base64: string }>(READ_CANVAS);
  return { width: got.width, height: got.height, rgba: Buffer.from(got.base64, 'base64') };
}

/** The console page's serial pane. */
export async function serialPane(page: Page): Promise<string> {
  return await page.locator('#serial').textContent() ?? '';
}

/** The console page's status line. */
export async function statusLine(page: Page): Promise<string> {
  return await page.locator('#status').textContent() ?? '';
}

/**
 * Waits until `expression` (JavaScript, run in the page) is true; fails naming `what` after `timeout` ms. Polled from
 * here: Playwright's waitForFunction evaluates its predicate with eval inside the page once the first try fails,
 * which the console's content security policy rightly refuses.
 */
export async function waitForPage(page: Page, expression: string, what: string, timeout: number): Promise<void> {
  await untilAsync(async () => (await page.evaluate<boolean>(`Boolean(${expression})`) ? undefined : 'not yet'),
    what, timeout, 20);
}

/** Waits until the console page's serial pane holds `text`. */
export async function waitForSerialPane(page: Page, text: string, timeout: number): Promise<void> {
  await waitForPage(page, `document.getElementById('serial').textContent.includes(${JSON.stringify(text)})`,
    `${JSON.stringify(text)} in the serial pane`, timeout);
}

/** Waits until the console page's canvas is `width` x `height` (it takes the screen's size from the first pixels). */
export async function waitForScreen(page: Page, width: number, height: number, timeout: number): Promise<void> {
  await waitForPage(page, `document.getElementById('screen').width === ${width} && ` +
    `document.getElementById('screen').height === ${height}`, `a ${width} x ${height} screen on the canvas`, timeout);
}

// The keys of a US keyboard (what Linux's default keymap expects) that give each character: KeyboardEvent.code and
// whether Shift is held. The page sends codes only, so a character the guest should see as shifted needs Shift.
const US_SHIFTED = new Map<string, string>([
  ['!', 'Digit1'], ['@', 'Digit2'], ['#', 'Digit3'], ['$', 'Digit4'], ['%', 'Digit5'], ['^', 'Digit6'],
  ['&', 'Digit7'], ['*', 'Digit8'], ['(', 'Digit9'], [')', 'Digit0'], ['_', 'Minus'], ['+', 'Equal'],
  ['|', 'Backslash'], ['"', 'Quote'], [':', 'Semicolon'], ['>', 'Period'], ['<', 'Comma'], ['?', 'Slash'],
  ['~', 'Backquote'], ['{', 'BracketLeft'], ['}', 'BracketRight'],
]);
const US_PLAIN = new Map<string, string>([
  [' ', 'Space'], ['-', 'Minus'], ['=', 'Equal'], ['\\', 'Backslash'], ['\'', 'Quote'], [';', 'Semicolon'],
  ['.', 'Period'], [',', 'Comma'], ['/', 'Slash'], ['`', 'Backquote'], ['[', 'BracketLeft'], [']', 'BracketRight'],
  ['\n', 'Enter'],
]);

/** The key presses (Playwright's names: `Shift+KeyA`) that type `text` on a US keyboard. */
export function usKeyPresses(text: string): string[] {
  // One key press per code point: the characters here are all ASCII.
  return Array.from(text, (ch) => {
    if (/^[a-z]$/.test(ch)) return `Key${ch.toUpperCase()}`;
    if (/^[A-Z]$/.test(ch)) return `Shift+Key${ch}`;
    if (/^[0-9]$/.test(ch)) return `Digit${ch}`;
    const plain = US_PLAIN.get(ch);
    if (plain !== undefined) return plain;
    const shifted = US_SHIFTED.get(ch);
    if (shifted !== undefined) return `Shift+${shifted}`;
    throw new RangeError(`no US key types ${JSON.stringify(ch)}`);
  });
}

/** Types `text` into the page's focused element key by key, Shift held where the character needs it. */
export async function typeUs(page: Page, text: string): Promise<void> {
  for (const keys of usKeyPresses(text)) await page.keyboard.press(keys);
}
