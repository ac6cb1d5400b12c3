// The adapter as a virtio device: its config space and what the driver may write there, the chains it refuses,
// the event queue, reset with I/O in flight, opening its disks, and several disks on one adapter.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { ScsiDevice } from '../../../src/devices/scsi/device';
import { ScsiDiskError } from '../../../src/devices/scsi/disk';
import { F_WRITE, mockContext, type Desc } from '../../virtio-mmio/mock-driver';
import { be16, be32, lun, pattern, withScsi } from './harness';

const le32 = (v: number): Buffer => Buffer.from(be32(v).reverse());
const read10 = (lba: number, blocks: number): number[] => [0x28, 0, ...be32(lba), 0, ...be16(blocks), 0];
const write10 = (lba: number, blocks: number): number[] => [0x2a, 0, ...be32(lba), 0, ...be16(blocks), 0];

test('the config space: one request queue, the limits, sense 96 and CDB 32, one target per disk, LUN 0', async () => {
  await withScsi([{}, {}, {}], async (s) => {
    const c = Buffer.from(s.dev.configSpace());
    assert.equal(c.length, 36);
    assert.deepEqual([0, 4, 8, 12, 16, 20, 24].map((o) => c.readUInt32LE(o)), [1, 254, 8192, 256, 16, 96, 32]);
    assert.deepEqual([c.readUInt16LE(28), c.readUInt16LE(30), c.readUInt32LE(32)], [0, 2, 0]);
    assert.equal(s.dev.deviceType, 8);
    assert.deepEqual(s.dev.queueMaxSizes, [64, 64, 256]);
    assert.equal(s.dev.features, 0n);
  });
});

test('the driver may set sense_size and cdb_size within bounds; other writes are dropped and counted; reset restores', async () => {
  await withScsi([{}], async (s) => {
    const field = (o: number): number => Buffer.from(s.dev.configSpace()).readUInt32LE(o);
    s.dev.configWrite(20, le32(200));
    s.dev.configWrite(24, le32(16));
    assert.deepEqual([field(20), field(24)], [200, 16]);
    for (const [offset, value] of [[20, 253], [24, 15], [24, 261], [0, 4], [32, 1]]) s.dev.configWrite(offset!, le32(value!));
    assert.deepEqual([field(20), field(24), field(0), field(32)], [200, 16, 1, 0]);
    assert.equal(s.dev.counters().badConfigWrites, 5);
    // The request's header follows cdb_size, its response sense_size.
    const r = await s.cmd([0x12, 0, 0, 0, 36, 0], { cdbSize: 16, senseSize: 200, inLen: 36 });
    assert.deepEqual([r.status, r.usedLen, r.data[0]], [0, 12 + 200 + 36, 0]);
    s.dev.reset();
    assert.deepEqual([field(20), field(24)], [96, 32]);
  });
});

test('a request shorter than its header, or without room for the response, costs the guest the device', async () => {
  for (const [header, resp] of [[50, 108], [51, 107], [0, 108], [51, 0]] as const) {
    await withScsi([{}], async (s) => {
      const descs: Desc[] = [];
      if (header > 0) descs.push({ addr: s.place(Buffer.from([1, 0, 0x40, 0, ...Array<number>(header - 4).fill(0)])), len: header, flags: 0 });
      if (resp > 0) descs.push({ addr: s.alloc(resp), len: resp, flags: F_WRITE });
      void s.rigs[2]!.post(descs);
      s.kick();
      assert.equal(s.failures.length, 1, `header ${header}, response ${resp}`);
      assert.match(s.failures[0]!, /51-byte header and room for a 108-byte response/);
      assert.deepEqual([s.rigs[2]!.d.usedIdx(), s.dev.counters().errors, s.dev.counters().requests], [0, 1, 0]);
    });
  }
});

test('the header and the response may be split across buffers anywhere', async () => {
  await withScsi([{}], async (s) => {
    const header = Buffer.alloc(51);
    Buffer.from(lun(0)).copy(header);
    Buffer.from([0x12, 0, 0, 0, 36, 0]).copy(header, 19);
    const resp = s.alloc(256);
    const descs = [[0, 3], [3, 20], [20, 51]].map(([a, b]) => ({ addr: s.place(header.subarray(a, b)), len: b! - a!, flags: 0 }));
    descs.push({ addr: resp, len: 5, flags: F_WRITE }, { addr: resp + 64, len: 103 + 10, flags: F_WRITE },
      { addr: resp + 192, len: 26, flags: F_WRITE });
    const used = await new Promise<number>((resolve) => { void s.rigs[2]!.post(descs).then(resolve); s.kick(); });
    assert.equal(used, 108 + 36);
    assert.equal(s.mem.readU8(resp + 64 + 103), 0x00, 'data-in starts right after the response, in the second buffer');
    const vendor = Buffer.concat([s.mem.read(resp + 64 + 103 + 8, 2), s.mem.read(resp + 192, 3)]);
    assert.equal(vendor.toString('ascii'), 'TSVMM', 'and goes on in the third');
  });
});

test('event buffers are held, short ones given back at once, and a reset drops them', async () => {
  await withScsi([{}], async (s) => {
    const ev = s.rigs[1]!;
    for (let i = 0; i < 3; i++) void ev.post([{ addr: s.alloc(16), len: 16, flags: F_WRITE }]);
    const shortAt = s.alloc(8);
    s.mem.fill(shortAt, 8, 0xee);
    const short = ev.post([{ addr: shortAt, len: 8, flags: F_WRITE }]);
    s.kick(1);
    assert.equal(await short, 8);
    assert.ok(s.mem.read(shortAt, 8).every((b) => b === 0), 'VIRTIO_SCSI_T_NO_EVENT');
    assert.equal(ev.d.usedIdx(), 1);
    assert.deepEqual([s.dev.counters().eventBuffers, s.dev.counters().shortEventBuffers], [3, 1]);
    s.kick(1);
    assert.equal(s.dev.counters().eventBuffers, 3, 'a second notify holds no more');
    s.dev.reset();
    assert.equal(s.dev.counters().eventBuffers, 0);
  });
});

test('two disks on one adapter: each target reads and writes its own image', async () => {
  await withScsi([{ bytes: 1 << 20 }, { bytes: 2 << 20, fill: 0x11 }], async (s) => {
    const a = pattern(8 * 512, 1);
    const b = pattern(8 * 512, 2);
    assert.equal((await s.cmd(write10(16, 8), { out: a, target: 0 })).status, 0);
    assert.equal((await s.cmd(write10(16, 8), { out: b, target: 1 })).status, 0);
    assert.ok(fs.readFileSync(s.files[0]!).subarray(16 * 512, 24 * 512).equals(a));
    assert.ok(fs.readFileSync(s.files[1]!).subarray(16 * 512, 24 * 512).equals(b));
    assert.ok((await s.cmd(read10(16, 8), { inLen: 4096, target: 1 })).data.equals(b));
    assert.ok((await s.cmd(read10(16, 8), { inLen: 4096, target: 0 })).data.equals(a));
    const cap = await s.cmd([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], { inLen: 8, target: 1 });
    assert.equal(cap.data.readUInt32BE(0), 4095);
    // A range inside disk 1 but past the end of disk 0.
    assert.equal((await s.cmd(read10(3000, 1), { inLen: 512, target: 0 })).status, 2);
    assert.equal((await s.cmd(read10(3000, 1), { inLen: 512, target: 1 })).status, 0);
  });
});

test('many requests from one notify all complete; a reset with reads in flight gives none back and quiesce waits', async () => {
  await withScsi([{ bytes: 4 << 20 }], async (s) => {
    const all = Array.from({ length: 8 }, (_, i) => s.post(read10(i * 64, 64), { inLen: 64 * 512 }));
    s.kick();
    assert.ok((await Promise.all(all)).every((r) => r.status === 0));
    const before = s.rigs[2]!.d.usedIdx();
    for (let i = 0; i < 4; i++) void s.post(read10(i * 512, 512), { inLen: 512 * 512 });
    s.kick();
    assert.equal(s.dev.counters().inFlight, 4);
    s.dev.reset();
    await s.dev.quiesce();
    assert.equal(s.dev.counters().inFlight, 0);
    assert.equal(s.rigs[2]!.d.usedIdx(), before, 'nothing given back to a reset driver');
  });
});

test('disks that cannot be used are refused naming which one; 1..16 disks', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-scsi-'));
  try {
    const ok = path.join(dir, 'ok.img');
    fs.writeFileSync(ok, Buffer.alloc(4096));
    const tiny = path.join(dir, 'tiny.img');
    fs.writeFileSync(tiny, Buffer.alloc(100));
    const disk = (p: string) => ({ path: p, readonly: false });
    assert.throws(() => new ScsiDevice({ disks: [disk(ok), disk(path.join(dir, 'absent.img'))] }),
      (e: unknown) => e instanceof ScsiDiskError && e.disk === 1 && /absent\.img: ENOENT/.test(e.message));
    assert.throws(() => new ScsiDevice({ disks: [disk(tiny)] }),
      (e: unknown) => e instanceof ScsiDiskError && e.disk === 0 && /smaller than one 512-byte block/.test(e.message));
    assert.throws(() => new ScsiDevice({ disks: [disk(dir)] }), ScsiDiskError, 'a directory');
    assert.throws(() => new ScsiDevice({ disks: [] }), RangeError);
    assert.throws(() => new ScsiDevice({ disks: Array.from({ length: 17 }, () => disk(ok)) }), RangeError);
    const made = path.join(dir, 'made.img');
    const dev = new ScsiDevice({ disks: [{ ...disk(made), create: true, size: 1 << 20 }] });
    assert.equal(dev.disks[0]!.blocks, 2048);
    dev.close();
    assert.ok(fs.statSync(made).blocks < 64, 'created sparse');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a snapshot keeps the sizes the driver set and names each disk; a restore checks the disks are the same', async () => {
  await withScsi([{}, { bytes: 2 << 20 }], async (s) => {
    s.dev.configWrite(20, le32(200));
    const saved = JSON.parse(JSON.stringify(s.dev.snapshotState())) as { disks: { path: string; blocks: number }[] };
    assert.deepEqual(saved.disks.map((d) => d.blocks), [2048, 4096]);
    const again = new ScsiDevice({ disks: saved.disks.map((d) => ({ path: d.path, readonly: false })) });
    try {
      again.restoreState(saved);
      assert.equal(Buffer.from(again.configSpace()).readUInt32LE(20), 200);
      assert.throws(() => again.restoreState({ ...saved, senseSize: 1000 }), /senseSize is 1000/);
      assert.throws(() => again.restoreState({ ...saved, disks: saved.disks.slice(1) }), /had 1 disks/);
      assert.throws(() => again.restoreState({ ...saved, disks: [saved.disks[0], { ...saved.disks[1], blocks: 1 }] }),
        /disks\[1\]\.blocks: the disk held 1 blocks/);
      assert.throws(() => again.restoreState({ ...saved, disks: [saved.disks[1], saved.disks[0]] }), /disks\[0\]\.path/);
    } finally {
      again.close();
    }
  });
});

test('the event buffers the adapter holds go into a snapshot by head, and a restored adapter holds them again', async () => {
  await withScsi([{}], async (s) => {
    const ev = s.rigs[1]!;
    for (let i = 0; i < 2; i++) void ev.post([{ addr: s.alloc(16), len: 16, flags: F_WRITE }]);
    void ev.post([{ addr: s.alloc(8), len: 8, flags: F_WRITE }]); // too short: given back at once, head 2
    void ev.post([{ addr: s.alloc(16), len: 16, flags: F_WRITE }]);
    s.kick(1);
    const saved = JSON.parse(JSON.stringify(s.dev.snapshotState())) as { disks: { path: string }[]; eventHeads: number[] };
    assert.deepEqual(saved.eventHeads, [0, 1, 3], 'not the short one the driver already has back');
    const again = new ScsiDevice({ disks: saved.disks.map((d) => ({ path: d.path, readonly: false })) });
    try {
      again.restoreState(saved);
      const ctx = mockContext(again, { memory: s.mem, queues: s.rigs.map((r) => r.d.queue()), features: 0n });
      again.activate(ctx);
      assert.equal(again.counters().eventBuffers, 3);
      assert.deepEqual(ctx.failures, []);
      assert.throws(() => again.restoreState({ ...saved, eventHeads: [1, 1] }), /eventHeads is not a list/);
    } finally {
      again.close();
    }
  });
});
