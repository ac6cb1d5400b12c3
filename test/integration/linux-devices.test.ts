// Linux's own drivers for virtio-gpu, virtio-input, virtio-scsi, virtio-crypto and virtio-snd, in one boot of the
// project's kernel with the user-space image (test/userspace/ut-devices.sh drives the guest side):
// - gpu: fbcon draws the boot log (its tail, written to tty1) on the scanout; a pattern written to /dev/fb0, and
//   after a KMS mode change one in a dumb buffer, come back in the host's screenshot pixel for pixel;
// - input: text typed and a click sent through the API socket arrive in /dev/input/event*, and Alt+SysRq+h from
//   the keyboard prints SysRq's help on the serial console;
// - scsi: an ext4 file system on sda written, synced (SYNCHRONIZE CACHE) and trimmed (UNMAP reaches the image as
//   holes), the serial in the VPD page, e2fsck clean afterwards;
// - crypto: the driver's AES-CBC passes the kernel's self-tests, and AF_ALG by driver name agrees with node:crypto;
// - snd: the card is in the ALSA device list, a 2 s 440 Hz tone played with the PCM ioctls is in the host's WAV,
//   and a host WAV captured in the guest hashes the same.
// Needs real hardware virtualization (guest user space), like linux-userspace. Screenshots are kept in .test-results/.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { VmClient } from '../../src/api/client';
import type { GuestArtifacts } from '../../src/guest/build';
import { readPng, type Image } from '../devices/gpu/png-reader';
import { FNV1A_INIT, fnv1aHex, fnv1aUpdate } from '../helpers/fnv';
import { untilAsync } from '../helpers/wait';
import { channelS16, goertzelPower, readWav, wavHeaderS16, zeroCrossingHz } from '../helpers/wav-tone';
import { resultsDir } from '../run/files';
import {
  bootToStart, consoleLine, field, type Guest, guestSays, killAll, prepareUserspace, STEP_MS, userspaceSkip,
} from '../userspace/guest-run';
import { makeDisk, readDisk, sha256 } from '../userspace/host-side';

const skip = userspaceSkip();
const SUITE = 'linux-devices';
const WIDTH = 640;
const HEIGHT = 480;
const RATE = 48000;
const CAPTURE_FRAMES = 24000;
/** A frame's flush takes seconds even under emulation: a pattern not shown after this never will be. */
const PATTERN_MS = Math.min(STEP_MS, 3 * 60_000);

/** ut-fb's pattern (test/userspace/ut-fb.c): pixel (x, y) of a w×h frame as [R, G, B]. */
function patternPixel(x: number, y: number, w: number, h: number, seed: number): [number, number, number] {
  return [Math.floor((x * 255) / (w - 1)) & 0xff, Math.floor((y * 255) / (h - 1)) & 0xff, (((x ^ y) * 7) + seed) & 0xff];
}

/** How many pixels of `img` differ from the pattern, and the first that does. */
function patternMismatch(img: Image, seed: number): { bad: number; first: string } {
  let bad = 0;
  let first = '';
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const at = 4 * (y * img.width + x);
      const want = patternPixel(x, y, img.width, img.height, seed);
      const got = [img.rgba[at]!, img.rgba[at + 1]!, img.rgba[at + 2]!];
      if (got[0] !== want[0] || got[1] !== want[1] || got[2] !== want[2]) {
        if (bad++ === 0) first = `(${x},${y}) is ${got.join(',')}, not ${want.join(',')}`;
      }
    }
  }
  return { bad, first };
}

describe('Linux drivers for gpu, input, scsi, crypto and snd', { skip, timeout: 60 * 60_000 }, () => {
  let guest: GuestArtifacts;
  let initrd: string;
  let dir: string;

  before(async () => { ({ guest, initrd, dir } = await prepareUserspace('tsvmm-devices-')); }, { timeout: 40 * 60_000 });
  afterEach(() => { killAll(); });
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  it('each driver binds and moves its data, checked from guest user space and from the host', async () => {
    const disk = path.join(dir, 'scsi.img');
    makeDisk(disk);
    const played = path.join(dir, 'played.wav');
    const toCapture = path.join(dir, 'capture.wav');
    const captureData = crypto.randomBytes(RATE * 4);
    fs.writeFileSync(toCapture, Buffer.concat([wavHeaderS16(2, RATE, captureData.length), captureData]));
    const apiSock = path.join(dir, 'api.sock');
    const config = {
      kernel: guest.vmlinux, initrd, memory: '512M', vcpus: 2, quirks: 'auto', log: { level: 'warn' },
            // Not console=tty0: fbcon drawing every line of the boot under emulation slows it past the stall watch.
      // The guest writes the log's tail to tty1 instead (ut-devices.sh).
      apiSocket: apiSock, cmdline: 'console=ttyS0 reboot=k panic=-1 ut.mode=devices',
      devices: [
        { type: 'gpu', width: WIDTH, height: HEIGHT },
        { type: 'input', kind: 'keyboard' }, { type: 'input', kind: 'tablet' },
        { type: 'scsi', disks: [{ path: disk, serial: 'ut-scsi-0' }] },
        { type: 'crypto' },
        { type: 'snd', playback: { backend: 'wav', path: played }, capture: { backend: 'wav', path: toCapture } },
      ],
    };
    const g = await bootToStart('devices', config, dir, [apiSock], undefined, SUITE);
    const client = new VmClient(apiSock);
    const step = (what: string): Promise<void> => guestSays(g, `UT-WAIT ${what}`);

    await step('scsi-written');
    const blocksWritten = fs.statSync(disk).blocks;
    g.send('');
    await checkInput(g, client, step);
    await checkGpu(g, client, step);
    await guestSays(g, 'UT-READY');
    const counters = await client.counters();
    g.send('reboot -f');
    const end = await g.exited;
    const text = g.out.text();
    assert.equal(end.code, 0, `reboot -f ends tsvmm with 0:\n${g.stderr()}`);
    assert.deepEqual(text.match(/^UT-FAIL.*$/gm) ?? [], [], 'no check failed in the guest');
    const [gpu, , , scsi, cryptoDev, snd] = counters.devices.map((d) => d.counters);
    process.stderr.write(`# counters: ${JSON.stringify({ gpu, scsi, crypto: cryptoDev, snd })}\n`);
    for (const c of counters.devices) assert.equal(c.counters.failures ?? 0, 0, JSON.stringify(c));

    // scsi: the serial from VPD 0x80, the data on the image, a sync, and the trimmed file's blocks now holes.
    assert.ok(/^UT-SCSI vendor=\S.* serial=ut-scsi-0 /m.test(text), `the serial in VPD 0x80: ${consoleLine(text, 'UT-SCSI')}`);
    const d = readDisk(disk, dir, ['/hello.txt']);
    assert.equal(d.fsck, 0, `e2fsck -fn:\n${d.fsckOutput}`);
    assert.equal(d.files['/hello.txt']!.toString(), 'written over virtio-scsi\n');
    assert.match(field(text, 'scsi', 'big'), /^[0-9a-f]{64}$/);
    assert.ok(scsi!.syncs! > 0 && scsi!.unmaps! > 0, `SYNCHRONIZE CACHE and UNMAP reached the device: ${JSON.stringify(scsi)}`);
    const blocksAfter = fs.statSync(disk).blocks;
    assert.ok(blocksWritten - blocksAfter >= (7 * 1024 * 1024) / 512,
      `fstrim gave the 8 MiB file's blocks back to the image: ${blocksWritten} -> ${blocksAfter} blocks`);

    checkCrypto(text);
    checkSnd(text, played, captureData);
  });
});

async function screenshot(client: VmClient, name: string): Promise<Image> {
  const png = await client.screenshot();
  fs.writeFileSync(path.join(resultsDir(), `${SUITE}-${name}.png`), png);
  return readPng(png);
}

/** Waits for a screenshot that is the w×h pattern for `seed` (the guest's flush is asynchronous). */
async function awaitPattern(client: VmClient, name: string, w: number, h: number, seed: number): Promise<void> {
  try {
    await untilAsync(async () => {
      const img = await screenshot(client, name);
      if (img.width !== w || img.height !== h) return `the screenshot is ${img.width}x${img.height}`;
      const m = patternMismatch(img, seed);
      return m.bad === 0 ? undefined : `${m.bad} pixels differ, first ${m.first}`;
    }, `the ${w}x${h} pattern ${seed}`, PATTERN_MS, 250);
  } catch (e) {
    const gpu = (await client.counters()).devices[0]?.counters;
    throw new Error(`${(e as Error).message}; gpu counters ${JSON.stringify(gpu)}`, { cause: e });
  }
}

async function checkGpu(g: Guest, client: VmClient, step: (what: string) => Promise<void>): Promise<void> {
  await step('gpu-fbcon');
  assert.ok(/^UT-GPU fb=\S*drmfb size=640,480 /m.test(g.out.text()), consoleLine(g.out.text(), 'UT-GPU'));
  // The boot log in fbcon's font: far from blank, in more than one colour.
  await untilAsync(async () => {
    const boot = await screenshot(client, 'fbcon');
    let lit = 0;
    for (let i = 0; i < boot.rgba.length; i += 4) if (boot.rgba[i]! + boot.rgba[i + 1]! + boot.rgba[i + 2]! > 0) lit++;
    return lit > 2000 ? undefined : `${lit} lit pixels`;
  }, 'fbcon to draw the boot log on the scanout', STEP_MS, 250);
  g.send('');
  await step('gpu-fb');
  await awaitPattern(client, 'fb0', WIDTH, HEIGHT, 5);
  g.send('');
  await guestSays(g, 'kms-holding');
  await awaitPattern(client, 'kms', 320, 240, 9);
  g.send('');
  await guestSays(g, 'UT-OK gpu');
}

async function checkInput(g: Guest, client: VmClient, step: (what: string) => Promise<void>): Promise<void> {
  await step('input-keys');
  await client.type('hi');
  g.send('');
  await step('input-pointer');
  // The bottom right corner: the input core drops an axis event that repeats the axis's value (0 at the start).
  // The screen is given: the scanout is in the middle of going back to fbdev's mode after the KMS test.
  await client.pointer(WIDTH - 1, HEIGHT - 1, ['left'], { width: WIDTH, height: HEIGHT });
  g.send('');
  await step('input-sysrq');
  await client.key('h', { modifiers: ['LeftAlt', 'SysRq'] });
  await g.out.waitFor('sysrq: HELP', STEP_MS);
  g.send('');
  const text = g.out.text();
  const events = (prefix: string): string[] => (text.match(new RegExp(`^${prefix} ev \\d+ \\d+ -?\\d+$`, 'gm')) ?? [])
    .map((l) => l.slice(prefix.length + 1));
  assert.ok(/^UT-EV-KBD ev-name tsvmm virtio keyboard$/m.test(text), consoleLine(text, 'UT-EV-KBD'));
  // KEY_H (35) and KEY_I (23), each pressed and released.
  assert.deepEqual(events('UT-EV-KBD'), ['ev 1 35 1', 'ev 1 35 0', 'ev 1 23 1', 'ev 1 23 0']);
  assert.ok(/^UT-EV-TAB ev-name tsvmm virtio tablet$/m.test(text), consoleLine(text, 'UT-EV-TAB'));
  // Both axes at their maximum, then BTN_LEFT down.
  assert.deepEqual(events('UT-EV-TAB'), ['ev 3 0 32767', 'ev 3 1 32767', 'ev 1 272 1']);
}

function checkCrypto(text: string): void {
  assert.ok(/^UT-CRYPTO-PROC .*driver : virtio_crypto_aes_cbc;.*selftest : passed;/m.test(text), consoleLine(text, 'UT-CRYPTO-PROC'));
  assert.equal(field(text, 'crypto', 'selftest'), 'passed');
  const lines = [...text.matchAll(/^UT-CRYPTO key=(\w+) iv=(\w+) in=(\w+) out=(\w+)$/gm)];
  assert.equal(lines.length, 4, 'two keys, each with the SP 800-38A blocks and 256 random bytes');
  for (const [, key, iv, input, out] of lines) {
    const c = crypto.createCipheriv(`aes-${key!.length * 4}-cbc`, Buffer.from(key!, 'hex'), Buffer.from(iv!, 'hex'));
    c.setAutoPadding(false);
    const want = Buffer.concat([c.update(Buffer.from(input!, 'hex')), c.final()]).toString('hex');
    assert.equal(out, want, `AES-${key!.length * 4}-CBC of ${input!.slice(0, 32)}...`);
  }
  // SP 800-38A F.2.1: the first block under the AES-128 key.
  assert.match(lines[0]![4]!, /^7649abac8119b246cee98e9b12e9197d/);
}

function checkSnd(text: string, played: string, captureData: Buffer): void {
  // Said without the console in the message: it is the whole boot.
  assert.ok(/ALSA device list:\r?\n(\[[ \d.]+\])? *#0: VirtIO SoundCard/.test(text), 'the card is in the ALSA device list');
  const play = /^UT-SND-PLAY pcm-play frames=(\d+) .*xruns=(\d+) fnv=(\S+)/m.exec(text);
  assert.ok(play, 'ut-pcm played');
  // An underrun leaves a gap in the host's copy; the tone's checks below would then fail on that, not on the device.
  assert.equal(play[2], '0', `the guest kept the stream fed: ${play[0]}`);
  const frames = Number(play[1]);
  assert.equal(frames, 2 * RATE);
  const wav = readWav(fs.readFileSync(played));
  assert.deepEqual([wav.formatTag, wav.channels, wav.rate, wav.bits], [1, 2, RATE, 16]);
  // The device records whole periods: the tone, then at most the rest of the last period the driver sent.
  const wavFrames = wav.data.length / 4;
  assert.ok(wavFrames >= frames && wavFrames <= frames + RATE / 10, `${wavFrames} frames in the WAV for ${frames} played`);
  const tone = wav.data.subarray(0, frames * 4);
  const norm = (h: string): string => h.replace(/^0x/, '').toLowerCase().padStart(16, '0');
  assert.equal(norm(fnv1aHex(fnv1aUpdate(FNV1A_INIT, tone))), norm(play[3]!), 'the WAV holds the frames the guest wrote');
  const left = channelS16(tone, 2, 0);
  const hz = zeroCrossingHz(left, RATE);
  assert.ok(Math.abs(hz - 440) < 2, `the tone is ${hz.toFixed(2)} Hz`);
  assert.ok(goertzelPower(left, RATE, 440) > 100 * goertzelPower(left, RATE, 880), 'the power is at 440 Hz');
  assert.equal(field(text, 'snd', 'capture'), sha256(captureData.subarray(0, CAPTURE_FRAMES * 4)),
    'the guest captured the host WAV\'s first frames');
}
