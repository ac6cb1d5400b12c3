// The browser console with a real guest and a real browser: the project's kernel with the user-space image
// (ut.mode=browser: a shell on tty1, test/userspace/ut.sh) under `tsvmm run` with a gpu, a keyboard, a tablet and
// display mode web; headless Chromium opens the address tsvmm prints and types a command on the page's canvas. The
// keys go through the virtio keyboard and the VT to the shell on tty1, fbcon draws the line on the scanout, and the
// command's tee copies its output to the serial console: it must show in tsvmm's stdout and in the page's serial
// pane. The canvas must show what the gpu's scanout shows (the API's screenshot). The page's screenshot is kept in
// .test-results/linux-browser.png. Needs real hardware virtualization (guest user space) and Chromium.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { VmClient } from '../../src/api/client';
import type { GuestArtifacts } from '../../src/guest/build';
import { readPng } from '../devices/gpu/png-reader';
import {
  canvasPixels, chromiumMissing, launchChromium, serialPane, statusLine, typeUs, waitForScreen, waitForSerialPane,
  watchProblems,
} from '../helpers/browser';
import { untilAsync } from '../helpers/wait';
import { resultsDir } from '../run/files';
import { bootToStart, killAll, prepareUserspace, STEP_MS, userspaceSkip } from '../userspace/guest-run';

const skip = userspaceSkip() ?? chromiumMissing() ?? false;
const SUITE = 'linux-browser';
const WIDTH = 640;
const HEIGHT = 480;
const WORD = 'hello-from-browser';
/** fbcon's cursor blinks: the canvas and a screenshot taken a moment apart may differ in its cell (8 x 16 here). */
const CURSOR_PIXELS = 8 * 16;

describe('the browser console with Linux: gpu, keyboard, serial console', { skip, timeout: 60 * 60_000 }, () => {
  let guest: GuestArtifacts;
  let initrd: string;
  let dir: string;
  let browser: Browser | undefined;
  let opened: Page | undefined;

  before(async () => {
    ({ guest, initrd, dir } = await prepareUserspace('tsvmm-browser-'));
    // Under the nested test host Chromium starts slowly too.
    browser = await launchChromium(STEP_MS);
  }, { timeout: 40 * 60_000 });
  afterEach(async () => {
    // A test that failed before its own screenshot: what the page showed then.
    if (opened !== undefined && !opened.isClosed()) {
      await opened.screenshot({ path: path.join(resultsDir(), `${SUITE}.png`) }).catch(() => undefined);
    }
    opened = undefined;
    killAll();
  });
  after(async () => {
    await browser?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a line typed on the page runs in tty1\'s shell; its output is on the serial console and the page', async () => {
    const apiSock = path.join(dir, 'api.sock');
    const config = {
      kernel: guest.vmlinux, initrd, memory: '512M', vcpus: 2, quirks: 'auto', log: { level: 'warn' },
      apiSocket: apiSock, cmdline: 'console=ttyS0 reboot=k panic=-1 ut.mode=browser',
      devices: [
        { type: 'gpu', width: WIDTH, height: HEIGHT },
        { type: 'input', kind: 'keyboard' },
        { type: 'input', kind: 'tablet' },
      ],
      display: { mode: 'web', port: 0 },
    };
    const g = await bootToStart('browser', config, dir, [apiSock], undefined, SUITE);
    // tsvmm prints the page's address, token and all, on stderr.
    const address = (): string | undefined =>
      /^browser console: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)$/m.exec(g.stderr())?.[1];
    await g.out.until(() => address() !== undefined, 'the browser console\'s address on tsvmm\'s stderr', STEP_MS, 100);
    await g.out.waitFor('UT-READY', STEP_MS);
    assert.match(g.out.text(), /^UT-BROWSER tty1=open /m, 'the shell on tty1 is up');

    const page = await browser!.newPage({ viewport: { width: 1280, height: 720 } });
    opened = page;
    page.setDefaultTimeout(STEP_MS);
    const problems = watchProblems(page);
    await page.goto(address()!);
    await waitForScreen(page, WIDTH, HEIGHT, STEP_MS);

    await page.focus('#screen');
    await typeUs(page, `echo ${WORD} | tee /dev/ttyS0\n`);
    // tee's copy, ending a line (after the prompt of the shell on ttyS0, maybe); the command itself went to tty1
    // only, so the word is on the serial console only as the command's output.
    await g.out.waitFor(new RegExp(`${WORD}\\r?$`, 'm'), STEP_MS);
    await waitForSerialPane(page, `${WORD}\n`, STEP_MS);
    assert.match(await serialPane(page), new RegExp(`${WORD}$`, 'm'));
    assert.doesNotMatch(await statusLine(page), /refused|disconnected/);

    // The canvas shows what the scanout shows (the typed line and its output among it), but for the blinking cursor.
    const client = new VmClient(apiSock);
    await untilAsync(async () => {
      const c = await compareWithScanout(page, client);
      if (c.same) process.stderr.write(`# ${c.what}\n`);
      return c.same ? undefined : c.what;
    }, 'the canvas to show the scanout', STEP_MS, 500);
    assert.deepEqual(problems, [], 'the page raised no script error and its content security policy refused nothing');
    await page.screenshot({ path: path.join(resultsDir(), `${SUITE}.png`) });
    await page.close();

    g.send('reboot -f');
    const exit = await g.exited;
    assert.equal(exit.code, 0, `reboot -f ends tsvmm with 0:\n${g.stderr()}`);
    assert.deepEqual(g.out.text().match(/^UT-FAIL.*$/gm) ?? [], [], 'no check failed in the guest');
  });
});

/** Whether the page's canvas shows the scanout (the API's screenshot) with text on it, and what it shows. */
async function compareWithScanout(page: Page, client: VmClient): Promise<{ same: boolean; what: string }> {
  const shot = readPng(await client.screenshot());
  const canvas = await canvasPixels(page);
  if (canvas.width !== shot.width || canvas.height !== shot.height) {
    return { same: false, what: `a ${canvas.width}x${canvas.height} canvas, a ${shot.width}x${shot.height} scanout` };
  }
  let differ = 0;
  let lit = 0;
  for (let i = 0; i < shot.rgba.length; i += 4) {
    if (canvas.rgba.readUInt32BE(i) !== shot.rgba.readUInt32BE(i)) differ++;
    if (canvas.rgba[i]! + canvas.rgba[i + 1]! + canvas.rgba[i + 2]! > 0) lit++;
  }
  // fbcon's text: two lines of it at least (the prompt with the command, and the output).
  return { same: differ <= CURSOR_PIXELS && lit > 300, what: `${differ} pixels differ, ${lit} lit on the canvas` };
}
