// The browser console's page in a real browser (headless Chromium), against web-console.test.ts's fake machine:
// the canvas holds the scanout pixel for pixel and then a flushed rectangle; keys typed on the canvas reach the
// keyboard as Linux key codes (text too, typed as on a US keyboard, the way the Linux suite types it); a click on
// the canvas (drawn smaller than the screen) reaches the tablet at the screen pixel under it; serial output shows
// in the serial pane; a line sent from the input line reaches the serial console. The page's screenshot is kept in
// .test-results/web-browser.png. Skipped, saying why, without Chromium.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { scaleAxis } from '../../src/api/input-pointer';
import { serveWebConsole, type WebConsole } from '../../src/api/web-console';
import { ABS_X, ABS_Y, BTN_LEFT, EV } from '../../src/devices/input';
import {
  canvasPixels, chromiumMissing, LAUNCH_MS, launchChromium, serialPane, statusLine, typeUs, waitForPage,
  waitForScreen, waitForSerialPane, watchProblems,
} from '../helpers/browser';
import { until as waitUntil } from '../helpers/wait';
import { resultsDir } from '../run/files';
import { bgrxFrame, expectedRgba, FakeMachine, FakeScreen } from './web-fakes';

const WIDTH = 640;
const HEIGHT = 480;
/** How long the page may take for anything (a busy machine, a slow browser). */
const WAIT_MS = 60_000;
const skip = chromiumMissing() ?? false;

/** Polls `cond` (what the fake machine got) until it holds; fails naming `what` after WAIT_MS. */
const until = (cond: () => boolean, what: string): Promise<number> => waitUntil(cond, what, WAIT_MS, { everyMs: 10 });

/** Undefined when `got` is `want`; else how many pixels differ and the first. */
function pixelMismatch(got: Buffer, want: Buffer, width: number): string | undefined {
  if (got.length !== want.length) return `${got.length / 4} pixels, not ${want.length / 4}`;
  let bad = 0;
  let first = '';
  for (let i = 0; i < want.length; i += 4) {
    if (got.readUInt32BE(i) === want.readUInt32BE(i)) continue;
    if (bad++ === 0) {
      const p = i / 4;
      const rgba = (b: Buffer): string => [...b.subarray(i, i + 4)].join(',');
      first = `(${p % width},${Math.floor(p / width)}) is ${rgba(got)}, not ${rgba(want)}`;
    }
  }
  return bad === 0 ? undefined : `${bad} pixels differ, first ${first}`;
}

describe('the browser console in headless Chromium', { skip, timeout: 10 * 60_000 }, () => {
  const frame = bgrxFrame(WIDTH, HEIGHT);
  const machine = new FakeMachine(new FakeScreen(frame));
  let web: WebConsole | undefined;
  let browser: Browser | undefined;
  let page: Page;
  /** The page, once there is one (before() may fail earlier). */
  let opened: Page | undefined;
  let problems: string[];
  /** What the canvas should hold: bgrxFrame's pixels, and what a test painted over them. */
  const want = expectedRgba({ x: 0, y: 0, width: WIDTH, height: HEIGHT });

  before(async () => {
    const served = await serveWebConsole(machine.sources);
    web = served;
    browser = await launchChromium();
    // Narrower than the screen: the canvas is drawn smaller than it, so the pointer's position must be scaled.
    page = opened = await browser.newPage({ viewport: { width: 800, height: 600 } });
    page.setDefaultTimeout(WAIT_MS);
    problems = watchProblems(page);
    await page.goto(served.url);
  }, { timeout: LAUNCH_MS + WAIT_MS });

  after(async () => {
    if (opened !== undefined && !opened.isClosed()) {
      fs.mkdirSync(resultsDir(), { recursive: true });
      await opened.screenshot({ path: path.join(resultsDir(), 'web-browser.png') });
    }
    await browser?.close();
    await web?.close();
  });

  it('the canvas shows the scanout pixel for pixel, then the rectangle a flush changed', async () => {
    await waitForScreen(page, WIDTH, HEIGHT, WAIT_MS);
    assert.equal(await statusLine(page), `screen ${WIDTH} x ${HEIGHT}: click it to type there`);
    const first = await canvasPixels(page);
    assert.deepEqual([first.width, first.height], [WIDTH, HEIGHT]);
    assert.equal(pixelMismatch(first.rgba, want, WIDTH), undefined);

    // The guest paints a 40 x 30 block at (100, 50) and flushes it: BGRX 0x20, 0x40, 0xc0 is RGB c0 40 20.
    const block = { x: 100, y: 50, width: 40, height: 30 };
    for (let y = block.y; y < block.y + block.height; y++) {
      for (let x = block.x; x < block.x + block.width; x++) {
        frame.pixels.set([0x20, 0x40, 0xc0, 0], (y * WIDTH + x) * 4);
        want.set([0xc0, 0x40, 0x20, 0xff], (y * WIDTH + x) * 4);
      }
    }
    machine.screen.damage(block);
    const corner = `${block.x + block.width - 1}, ${block.y + block.height - 1}`;
    await waitForPage(page, `(() => {
      const d = document.getElementById('screen').getContext('2d').getImageData(${corner}, 1, 1).data;
      return d[0] === 0xc0 && d[1] === 0x40 && d[2] === 0x20;
    })()`, 'the flushed block on the canvas', WAIT_MS);
    assert.equal(pixelMismatch((await canvasPixels(page)).rgba, want, WIDTH), undefined);
  });

  it('keys typed on the canvas reach the keyboard as Linux key codes, Shift included', async () => {
    await page.focus('#screen');
    machine.sent[0]!.length = 0;
    const keys = (): number[][] => machine.sent[0]!.filter((e) => e.type === EV.KEY).map((e) => [e.code, e.value]);
    await page.keyboard.press('Shift+KeyH');
    await page.keyboard.press('KeyI');
    await page.keyboard.press('Enter');
    await until(() => keys().length >= 8, 'eight key events');
    // KEY_LEFTSHIFT 42, KEY_H 35, KEY_I 23, KEY_ENTER 28.
    assert.deepEqual(keys(), [[42, 1], [35, 1], [35, 0], [42, 0], [23, 1], [23, 0], [28, 1], [28, 0]]);
  });

  it('typing text as on a US keyboard: Shift held for capitals and shifted symbols', async () => {
    await page.focus('#screen');
    machine.sent[0]!.length = 0;
    const keys = (): number[][] => machine.sent[0]!.filter((e) => e.type === EV.KEY).map((e) => [e.code, e.value]);
    await typeUs(page, 'a|S-/\n');
    await until(() => keys().length >= 16, 'sixteen key events');
    // KEY_A 30; Shift 42 with KEY_BACKSLASH 43, then with KEY_S 31; KEY_MINUS 12, KEY_SLASH 53, KEY_ENTER 28.
    const press = (code: number): number[][] => [[code, 1], [code, 0]];
    const shifted = (code: number): number[][] => [[42, 1], ...press(code), [42, 0]];
    assert.deepEqual(keys(), [...press(30), ...shifted(43), ...shifted(31), ...press(12), ...press(53), ...press(28)]);
  });

  it('a click on the canvas reaches the tablet at the screen pixel under it', async () => {
    const box = await page.locator('#screen').boundingBox();
    assert.ok(box !== null);
    assert.ok(box.width < WIDTH - 10, `the canvas is drawn smaller than the screen: ${box.width} CSS pixels wide`);
    // A point three quarters across and a quarter down, moved to where it is not near a pixel's edge (the page's
    // rounding and this one's must not disagree there).
    const pixelAt = (client: number, start: number, size: number, side: number): number =>
      (client - start) * side / size;
    const pick = (start: number, size: number, side: number, part: number): number => {
      let c = Math.round(start + size * part);
      for (;;) {
        const frac = pixelAt(c, start, size, side) % 1;
        if (frac > 0.2 && frac < 0.8) return c;
        c++;
      }
    };
    const cx = pick(box.x, box.width, WIDTH, 0.75);
    const cy = pick(box.y, box.height, HEIGHT, 0.25);
    const px = Math.floor(pixelAt(cx, box.x, box.width, WIDTH));
    const py = Math.floor(pixelAt(cy, box.y, box.height, HEIGHT));
    machine.sent[1]!.length = 0;
    const of = (code: number, type: number = EV.ABS): number[] =>
      machine.sent[1]!.filter((e) => e.type === type && e.code === code).map((e) => e.value);
    await page.mouse.click(cx, cy);
    await until(() => of(BTN_LEFT, EV.KEY).length >= 2, 'the button pressed and released');
    assert.deepEqual(of(BTN_LEFT, EV.KEY), [1, 0]);
    const xs = new Set(of(ABS_X));
    const ys = new Set(of(ABS_Y));
    assert.deepEqual([[...xs], [...ys]], [[scaleAxis(px, WIDTH)], [scaleAxis(py, HEIGHT)]],
      `every report at pixel (${px}, ${py}) of the screen, clicked at (${cx}, ${cy}) in a canvas at ` +
      `(${box.x}, ${box.y}) ${box.width} x ${box.height}`);
  });

  it('serial output shows in the serial pane, without escape sequences, even those split across chunks', async () => {
    // A chunk may end anywhere: inside a UTF-8 character, or inside an escape sequence.
    machine.serialOutput(Buffer.from('Linux booted \x1b[1;32mok\x1b[0m\r\n\x1b[1;3', 'latin1'));
    machine.serialOutput(Buffer.from('3mlogin:\x1b', 'latin1'));
    machine.serialOutput(Buffer.from('[0m caf\xc3', 'latin1'));
    machine.serialOutput(Buffer.from('\xa9\r\n', 'latin1'));
    await waitForSerialPane(page, 'café', WAIT_MS);
    assert.equal(await serialPane(page), 'Linux booted ok\nlogin: café\n');
  });

  it('a line sent from the input line reaches the serial console, with nothing on the keyboard', async () => {
    machine.sent[0]!.length = 0;
    await page.fill('#line', 'echo hi');
    await page.press('#line', 'Enter');
    await until(() => machine.serialIn.length > 0, 'the serial input');
    assert.equal(Buffer.concat(machine.serialIn).toString(), 'echo hi\r');
    assert.equal(await page.inputValue('#line'), '', 'the input line is emptied');
    assert.deepEqual(machine.sent[0], [], 'keys typed in the input line are not the guest\'s keyboard\'s');
  });

  it('a long line goes in pieces that split no character, however long its UTF-16 form', async () => {
    // The page sends at most 4000 UTF-16 units a message; the emoji's two halves straddle that boundary.
    const line = `${'x'.repeat(3999)}\u{1F600}${'y'.repeat(10)}`;
    machine.serialIn.length = 0;
    await page.fill('#line', line);
    await page.press('#line', 'Enter');
    const want = Buffer.from(`${line}\r`);
    await until(() => Buffer.concat(machine.serialIn).length >= want.length - 2, 'the long line');
    const got = Buffer.concat(machine.serialIn).toString();
    assert.ok(got === want.toString(),
      `around the emoji: ${JSON.stringify(got.slice(3995, 4010))} (${got.length} UTF-16 units)`);
  });

  it('the page raised no script error and its content security policy refused nothing', () => {
    assert.deepEqual(problems, []);
  });
});
