// The worst chains a hostile guest can post to each device, played through the mock driver: every chain as long as
// the queue allows (an indirect table of aliased 4 MiB buffers, ~4 GiB) and the ring full of them. No single
// notify, and no turn of the event loop after it, may hold the main thread for more than STALL_LIMIT_MS.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { BalloonDevice } from '../../src/devices/balloon';
import { BlkDevice } from '../../src/devices/blk';
import { ConsoleDevice } from '../../src/devices/console';
import { RngDevice } from '../../src/devices/rng';
import { OP } from '../../src/devices/fs/protocol';
import { GuestRam } from '../../src/base/guest-ram';
import { native } from '../../src/base/native';
import { F_WRITE, MockDriver, mockContext } from '../virtio-mmio/mock-driver';
import { FuseClient, ROOT } from './fs/fuse-client';
import { ALIAS, aliased, fillRing, measureStall, STALL_LIMIT_MS, TABLE, worst, type Stall } from './stall-probe';

const MiB = 1 << 20;
/** Indirect tables sit above the rings; the aliased data region above them. */
const TABLE_AT = 0x40000;
const DATA = 4 * MiB;
const MEM = DATA + ALIAS;

function report(device: string, s: Stall): void {
  const ms = (v: number): string => v.toFixed(1);
  console.log(`# ${device}: CPU time: notify ${ms(s.notifyMs)} ms, longest turn ${ms(s.worstTurnMs)} ms; wall time: `
    + `notify ${ms(s.notifyWallMs)} ms, longest turn ${ms(s.worstTurnWallMs)} ms, loop delay ${ms(s.histogramMs)} ms`);
  assert.ok(worst(s) < STALL_LIMIT_MS, `${device} held the main thread for ${ms(worst(s))} ms of CPU time`);
}

/** The balloon's guest: the pages it gives up lie above the rings, tables and page lists. */
const VICTIMS = MEM;
const ram = GuestRam.create([{ gpa: 0, size: VICTIMS + 8 * MiB }], 'stall-test');
after(() => native().close(ram.fd));

test('balloon: a ring of 4 GiB page lists, each page its own hole, is served in bounded turns', async () => {
  const mem = ram.memory;
  const pages = 8 * MiB / 4096;
  // Every other page, so no two neighbours coalesce: one discard per PFN.
  const list = Buffer.alloc(ALIAS);
  for (let i = 0; i < ALIAS / 4; i++) list.writeUInt32LE(VICTIMS / 4096 + ((2 * i) % pages), 4 * i);
  mem.write(DATA, list);
  const inflate = new MockDriver(128, 0, { mem, base: 0 });
  const deflate = new MockDriver(128, 0, { mem, base: 0x10000 });
  const dev = new BalloonDevice({ targetMiB: 0, deflateOnOom: false, statsInterval: 0,
    discard: (gpa, len) => ram.discard(gpa, len) });
  const ctx = mockContext(dev, { memory: mem, queues: [inflate.queue(), deflate.queue()], features: 0n });
  dev.activate(ctx);
  fillRing(inflate, TABLE_AT, aliased(TABLE, DATA, ALIAS, 0));
  const s = await measureStall(() => dev.onQueueNotify(0), () => inflate.usedIdx() === 128);
  assert.deepEqual(ctx.failures, []);
  assert.ok((dev.counters().badRequests ?? 0) > 0, 'the over-long lists are counted');
  dev.reset();
  report('balloon', s);
});

test('rng: a ring of 4 GiB requests is served in bounded turns', async () => {
  const d = new MockDriver(256, MEM);
  const dev = new RngDevice();
  const ctx = mockContext(dev, { memory: d.mem, queues: [d.queue()], features: 0n });
  dev.activate(ctx);
  fillRing(d, TABLE_AT, aliased(TABLE, DATA, ALIAS, F_WRITE));
  const s = await measureStall(() => dev.onQueueNotify(), () => d.usedIdx() === 256);
  assert.deepEqual(ctx.failures, []);
  assert.ok(d.used(0).len > 0, 'a request still gets random bytes');
  dev.reset();
  report('rng', s);
});

test('console: a ring of 4 GiB output chains is served in bounded turns', async () => {
  const rx = new MockDriver(64, MEM);
  const tx = new MockDriver(64, 0, { mem: rx.mem, base: 0x10000 });
  let output = 0;
  const dev = new ConsoleDevice((chunk) => { output += chunk.length; });
  const ctx = mockContext(dev, { memory: rx.mem, queues: [rx.queue(), tx.queue()], features: 0n });
  dev.activate(ctx);
  fillRing(tx, TABLE_AT, aliased(TABLE, DATA, ALIAS, 0));
  const s = await measureStall(() => dev.onQueueNotify(1), () => tx.usedIdx() === 64);
  assert.deepEqual(ctx.failures, []);
  assert.ok(output > 0, 'output still reaches the sink');
  dev.reset();
  report('console', s);
});

function blkSetup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-stall-'));
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(8 * MiB, 0xab));
  const dev = new BlkDevice({ path: file, readonly: false, cache: 'writeback', create: false });
  const d = new MockDriver(256, MEM);
  const ctx = mockContext(dev, { memory: d.mem, queues: [d.queue()], features: dev.features });
  dev.activate(ctx);
  const done = async (): Promise<void> => {
    await dev.quiesce();
    dev.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { dev, d, ctx, done };
}

/** A request header at HDR, a status byte at STATUS, the data (or discard ranges) aliased between them. */
const HDR = 0x30000;
const STATUS = 0x31000;

test('blk: a ring of discards, each with a 4 GiB list of ranges, is served in bounded turns', async () => {
  const s = blkSetup();
  s.d.mem.writeU32(HDR, 11);
  const range = Buffer.alloc(16);
  range.writeUInt32LE(8, 8); // sector 0, 8 sectors
  for (let at = 0; at < ALIAS; at += 16) s.d.mem.write(DATA + at, range);
  fillRing(s.d, TABLE_AT, [{ addr: HDR, len: 16, flags: 0 }, ...aliased(TABLE - 2, DATA, ALIAS, 0),
    { addr: STATUS, len: 1, flags: F_WRITE }]);
  const st = await measureStall(() => s.dev.onQueueNotify(0), () => s.d.usedIdx() === 256);
  assert.notEqual(s.d.mem.readU8(STATUS), 0, 'more ranges than max_discard_seg are refused');
  await s.done();
  report('blk discard', st);
});

test('blk: a ring of 1 MiB reads the page cache holds is served in bounded turns', async () => {
  const s = blkSetup();
  s.d.mem.writeU32(HDR, 0);
  fillRing(s.d, TABLE_AT, [{ addr: HDR, len: 16, flags: 0 }, { addr: DATA, len: MiB, flags: F_WRITE },
    { addr: STATUS, len: 1, flags: F_WRITE }]);
  const st = await measureStall(() => s.dev.onQueueNotify(0), () => s.d.usedIdx() === 256);
  assert.equal(s.d.mem.readU8(STATUS), 0);
  await s.done();
  report('blk cached read', st);
});

test('fs: READDIRPLUS with 4 MiB of room over a directory of 10k files is answered in bounded turns', async () => {
  const c = new FuseClient({ populate: (share) => {
    for (let i = 0; i < 10_000; i++) fs.writeFileSync(path.join(share, `f${i}`), '');
  } });
  try {
    await c.init();
    const fh = await c.open(ROOT, 0, true);
    const req = c.encode(OP.READDIRPLUS, c.readArgs(fh, 0n, 4 * MiB), {});
    const before = c.usedIdx();
    const s = await measureStall(() => c.post(req, 4 * MiB - 64), () => c.usedIdx() !== before);
    assert.deepEqual(c.failures, []);
    report('fs readdirplus', s);
  } finally {
    c.close();
  }
});
