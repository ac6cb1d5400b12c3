import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { native } from '../../src/base/native';
import { F_WRITE } from '../virtio-mmio/mock-driver';
import { DATA, HDR, STATUS, setup } from './blk-harness';

test('reads and writes sectors between the image and guest memory', async () => {
  const s = setup();
  try {
    assert.equal(await s.request(0, 1, 1024), 0);
    assert.deepEqual(Array.from(s.d.mem.read(DATA, 4)), [0xab, 0xab, 0xab, 0xab]);
    s.d.mem.fill(DATA, 512, 0x11);
    assert.equal(await s.request(1, 3, 512, false), 0);
    assert.equal(fs.readFileSync(s.file)[3 * 512], 0x11);
    assert.equal(await s.request(4, 0, 0), 0); // flush
    assert.equal(s.dev.counters().writtenBytes, 512);
  } finally { s.cleanup(); }
});

/** Whether this file's file system answers preadv2 with RWF_NOWAIT (not every one does). */
function nowaitReads(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    return native().tryPreadv(fd, [new Uint8Array(512)], 0) !== -os.constants.errno.EOPNOTSUPP;
  } finally {
    fs.closeSync(fd);
  }
}

test('reads the page cache holds are answered on the spot, the data as on disk', async () => {
  const s = setup();
  try {
    const fd = fs.openSync(s.file, 'r+');
    fs.writeSync(fd, Buffer.alloc(512, 0x5c), 0, 512, 5 * 512);
    fs.closeSync(fd);
    assert.equal(await s.request(0, 4, 2048), 0);
    assert.deepEqual([0, 511, 512, 1023, 1024].map((i) => s.d.mem.readU8(DATA + i)), [0xab, 0xab, 0x5c, 0x5c, 0xab]);
    // Just written, so cached: preadv2 with RWF_NOWAIT answered it without the thread pool, where the file system
    // can read so (where it cannot, the thread pool did, which the data above checks).
    assert.equal(s.dev.counters().cachedReads, nowaitReads(s.file) ? 1 : 0);
    assert.equal(s.dev.counters().readBytes, 2048);
  } finally { s.cleanup(); }
});

test('GET_ID returns the serial; unknown types are UNSUPP; requests past the end are IOERR', async () => {
  const s = setup({ serial: 'disk-7' });
  try {
    assert.equal(await s.request(8, 0, 20), 0);
    assert.equal(Buffer.from(s.d.mem.read(DATA, 6)).toString(), 'disk-7');
    assert.equal(await s.request(99, 0, 0), 2);
    assert.equal(await s.request(0, 127, 1024), 1);
    assert.equal(await s.request(0, 0, 100), 1); // not a whole sector
  } finally { s.cleanup(); }
});

test('a read-only disk refuses writes and discards with IOERR and offers RO', async () => {
  const s = setup({ readonly: true });
  try {
    assert.ok(s.dev.features & (1n << 5n));
    assert.equal(await s.request(1, 0, 512, false), 1);
    assert.equal(fs.readFileSync(s.file)[0], 0xab);
  } finally { s.cleanup(); }
});

test('discard punches a hole that reads back as zeros', async () => {
  const s = setup();
  try {
    s.d.mem.writeU64(DATA, 8n); // sector
    s.d.mem.writeU32(DATA + 8, 16); // sectors
    s.d.mem.writeU32(DATA + 12, 0);
    assert.equal(await s.request(11, 0, 16, false), 0);
    const img = fs.readFileSync(s.file);
    assert.equal(img[8 * 512], 0);
    assert.equal(img[24 * 512 - 1], 0);
    assert.equal(img[24 * 512], 0xab);
  } finally { s.cleanup(); }
});

test('a request without a status byte costs the device (NEEDS_RESET), not the VMM', () => {
  const s = setup();
  try {
    s.d.addChain([{ addr: HDR, len: 16, flags: 0 }]);
    s.dev.onQueueNotify(0);
    assert.equal(s.failures.length, 1);
  } finally { s.cleanup(); }
});

/** How many fds of this process have `file` open. */
function opened(file: string): number {
  return fs.readdirSync('/proc/self/fd').filter((fd) => {
    try { return fs.readlinkSync(`/proc/self/fd/${fd}`) === file; } catch { return false; }
  }).length;
}

test('swapping the backing file: a read in flight ends on the old file, later reads see the new one', async () => {
  const s = setup();
  const next = path.join(path.dirname(s.file), 'next.img');
  fs.writeFileSync(next, Buffer.alloc(128 * 1024, 0xcd));
  try {
    const inFlight = s.request(0, 0, 512); // its preadv is already issued on the old file
    const swap = s.dev.swapBacking(next);
    assert.equal(await inFlight, 0);
    assert.equal(s.d.mem.readU8(DATA), 0xab, 'the request that started on the old file read the old file');
    await swap.retired;
    assert.equal(opened(s.file), 0, 'the old file is closed once its last request is done');
    assert.equal(swap.capacityChanged, true);
    assert.equal(Buffer.from(s.dev.configSpace()).readBigUInt64LE(0), 256n, 'capacity in sectors');
    assert.equal(s.dev.backingPath, next);
    assert.equal(await s.request(0, 200, 512), 0, 'a sector only the bigger file has');
    assert.equal(s.d.mem.readU8(DATA), 0xcd);
  } finally { s.cleanup(); }
});

test('swapping to a file that cannot serve keeps the old one; a read-only disk stays read-only', async () => {
  const s = setup({ readonly: true });
  const dir = path.dirname(s.file);
  const next = path.join(dir, 'next.img');
  fs.writeFileSync(next, Buffer.alloc(64 * 1024, 0x5a));
  try {
    assert.throws(() => s.dev.swapBacking(path.join(dir, 'missing.img')), { code: 'ENOENT' });
    assert.throws(() => s.dev.swapBacking(dir), { code: 'EINVAL', message: /not a regular file/ });
    assert.equal(s.dev.backingPath, s.file);
    const swap = s.dev.swapBacking(next);
    assert.equal(swap.capacityChanged, false);
    await swap.retired;
    assert.equal(await s.request(1, 0, 512, false), 1, 'writes are still refused');
    assert.equal(fs.readFileSync(next)[0], 0x5a);
    assert.equal(await s.request(0, 0, 512), 0);
    assert.equal(s.d.mem.readU8(DATA), 0x5a);
  } finally { s.cleanup(); }
  assert.throws(() => s.dev.swapBacking(next), /closed/);
});

test('after a reset, quiesce() waits for reads still in flight; their completions never reach the used ring', async () => {
  // Reads larger than the page-cache fast path's limit go to the thread pool, so they are still running at the reset.
  const big = (1 << 20) + 4096;
  const s = setup({}, 0n, { disk: big, mem: 4 << 20 });
  try {
    s.d.mem.writeU32(HDR, 0);
    s.d.mem.writeU64(HDR + 8, 0n);
    s.d.mem.writeU8(STATUS, 0xff);
    for (let i = 0; i < 4; i++) {
      s.d.addChain([{ addr: HDR, len: 16, flags: 0 }, { addr: 0x100000, len: big, flags: F_WRITE },
        { addr: STATUS, len: 1, flags: F_WRITE }]);
    }
    s.dev.onQueueNotify(0);
    // The turn budget may leave the last chains for a later turn, which the reset then cancels; none has completed
    // yet, since completions need an event-loop turn.
    assert.ok(s.dev.counters().inFlight! >= 1, JSON.stringify(s.dev.counters()));
    s.dev.reset();
    let quiet = false;
    const idle = s.dev.quiesce().then(() => { quiet = true; });
    assert.equal(quiet, false, 'not quiet while the reads run');
    await idle;
    assert.equal(s.dev.counters().inFlight, 0);
    assert.equal(s.d.usedIdx(), 0, 'nothing completed into the used ring after the reset');
    assert.equal(s.d.mem.readU8(STATUS), 0xff, 'no status byte written after the reset');
  } finally { s.cleanup(); }
});

test('writes are synced before they complete when the driver did not take FLUSH (cache: writeback)', async () => {
  const FLUSH = 1n << 9n;
  for (const [without, syncs] of [[0n, 0], [FLUSH, 1]] as const) {
    const s = setup({}, without);
    try {
      s.d.mem.fill(DATA, 512, 0x22);
      assert.equal(await s.request(1, 0, 512, false), 0);
      assert.equal(s.dev.counters().syncs, syncs, `FLUSH ${without ? 'not ' : ''}negotiated`);
    } finally { s.cleanup(); }
  }
  const unsafe = setup({ cache: 'unsafe' }, FLUSH);
  try {
    assert.equal(await unsafe.request(1, 0, 512, false), 0);
    assert.equal(unsafe.dev.counters().syncs, 0, 'cache: unsafe never syncs');
  } finally { unsafe.cleanup(); }
});
