// Devices behind the virtio-iommu: a disk whose rings and buffers are I/O virtual addresses, a queue whose rings
// are unmapped under it, and the transport's side (ACCESS_PLATFORM offered, and required).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { BlkDevice } from '../../../src/devices/blk';
import { MmioRegisters } from '../../../src/virtio-mmio/mmio-registers';
import { QueueError, Virtqueue } from '../../../src/virtio-mmio/queue';
import { REG, STATUS } from '../../../src/virtio-mmio/registers';
import { createTransportState } from '../../../src/virtio-mmio/state';
import { MmioTransport } from '../../../src/virtio-mmio/transport';
import { RngDevice } from '../../../src/devices/rng';
import { S } from '../../../src/devices/iommu/wire';
import { F_WRITE, MockDriver, mockContext } from '../../virtio-mmio/mock-driver';
import { attach, map, MEM_BYTES, setup, unmap } from './harness';

const RINGS_GPA = 0x100000;
const RINGS_IOVA = 0x1_0000_0000;
const BUFS_GPA = 0x200000;
const BUFS_IOVA = 0x2_0000_0000;

/** A disk as endpoint 1, its queue's rings and buffers mapped at I/O virtual addresses far from their RAM. */
function diskBehindIommu() {
  const s = setup();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-iommu-'));
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(64 * 1024, 0xab));
  const blk = new BlkDevice({ path: file, readonly: false, cache: 'writeback', create: false });
  const ring = new MockDriver(16, MEM_BYTES, { mem: s.mem, base: RINGS_GPA });
  assert.equal(s.status(attach(1, 1)), S.OK);
  assert.equal(s.status(map(1, RINGS_IOVA, RINGS_IOVA + 0x3fff, RINGS_GPA)), S.OK);
  // One page each (header, data, status), as the DMA API maps them, so each can be unmapped alone.
  for (let p = 0; p < 3; p++) {
    assert.equal(s.status(map(1, BUFS_IOVA + p * 0x1000, BUFS_IOVA + p * 0x1000 + 0xfff, BUFS_GPA + p * 0x1000)), S.OK);
  }
  const memory = s.dev.endpointMemory(1, s.mem);
  const q = new Virtqueue(memory, { size: 16, desc: BigInt(RINGS_IOVA + 0x1000), avail: BigInt(RINGS_IOVA + 0x2000),
    used: BigInt(RINGS_IOVA + 0x3000) }, { eventIdx: false, indirect: true });
  let wake: (() => void) | undefined;
  const ctx = mockContext(blk, { memory, queues: [q], features: blk.features,
    onUsed: () => { const w = wake; wake = undefined; w?.(); } });
  blk.activate(ctx);
  /** A one-sector read into the data page; resolves with the status byte once it is answered. */
  const read = (): Promise<number> => {
    s.mem.writeU32(BUFS_GPA, 0); // VIRTIO_BLK_T_IN, sector 0
    s.mem.writeU64(BUFS_GPA + 8, 0n);
    s.mem.writeU8(BUFS_GPA + 0x2000, 0xff);
    const used = new Promise<void>((resolve) => { wake = resolve; });
    ring.addChain([{ addr: BUFS_IOVA, len: 16, flags: 0 }, { addr: BUFS_IOVA + 0x1000, len: 512, flags: F_WRITE },
      { addr: BUFS_IOVA + 0x2000, len: 1, flags: F_WRITE }]);
    blk.onQueueNotify(0);
    return used.then(() => s.mem.readU8(BUFS_GPA + 0x2000));
  };
  const cleanup = (): void => { blk.close(); fs.rmSync(dir, { recursive: true, force: true }); };
  return { s, blk, ctx, read, cleanup };
}

test('a disk behind the IOMMU reads into the guest-physical page its I/O virtual address maps to', async () => {
  const d = diskBehindIommu();
  try {
    assert.equal(await d.read(), 0);
    assert.ok(d.s.mem.read(BUFS_GPA + 0x1000, 512).every((b) => b === 0xab));
    assert.deepEqual(d.ctx.failures, []);
  } finally {
    d.cleanup();
  }
});

test('once its data page is unmapped, the disk\'s next request faults and the disk needs a reset', async () => {
  const d = diskBehindIommu();
  try {
    const event = d.s.postEvent();
    assert.equal(await d.read(), 0);
    assert.equal(d.s.status(unmap(1, BUFS_IOVA + 0x1000, BUFS_IOVA + 0x1fff)), S.OK);
    d.s.mem.fill(BUFS_GPA + 0x1000, 512, 0);
    void d.read();
    assert.equal(d.ctx.failures.length, 1);
    assert.match(d.ctx.failures[0]!, /not guest RAM/);
    assert.ok(d.s.mem.read(BUFS_GPA + 0x1000, 512).every((b) => b === 0), 'nothing reached the page');
    assert.equal(d.s.mem.readU32(event + 4), 0x102, 'a write fault');
    assert.equal(d.s.mem.readU64(event + 16), BigInt(BUFS_IOVA + 0x1000));
    assert.equal(d.s.dev.counters().faults, 1);
  } finally {
    d.cleanup();
  }
});

test('a queue whose rings are unmapped under it fails at its next look at them', () => {
  const s = setup();
  s.status(attach(1, 2));
  s.status(map(1, RINGS_IOVA, RINGS_IOVA + 0x3fff, RINGS_GPA));
  const q = new Virtqueue(s.dev.endpointMemory(2, s.mem), { size: 16, desc: BigInt(RINGS_IOVA + 0x1000),
    avail: BigInt(RINGS_IOVA + 0x2000), used: BigInt(RINGS_IOVA + 0x3000) }, { eventIdx: false, indirect: true });
  assert.equal(q.pop(), null);
  s.status(unmap(1, RINGS_IOVA, RINGS_IOVA + 0x3fff));
  assert.throws(() => q.pop(), (e: unknown) => e instanceof QueueError && e.code === 'E_LAYOUT');
});

test('the used ring needs a writable mapping', () => {
  const s = setup();
  s.status(attach(1, 2));
  s.status(map(1, RINGS_IOVA, RINGS_IOVA + 0x3fff, RINGS_GPA, 1));
  assert.throws(() => new Virtqueue(s.dev.endpointMemory(2, s.mem), { size: 16, desc: BigInt(RINGS_IOVA + 0x1000),
    avail: BigInt(RINGS_IOVA + 0x2000), used: BigInt(RINGS_IOVA + 0x3000) }, { eventIdx: false, indirect: true }),
  /device area/);
});

function transport(behind: boolean) {
  const s = setup();
  const t = new MmioTransport(new RngDevice(), createTransportState(), { memory: s.mem, raiseIrq: () => undefined,
    platformMemory: behind ? s.dev.endpointMemory(1, s.mem) : undefined });
  const regs = new MmioRegisters(t.state, { post: (e) => t.handleEvent(e) });
  const rd = (off: number): number => { const b = new Uint8Array(4); regs.read(off, b); return new DataView(b.buffer).getUint32(0, true); };
  const wr = (off: number, v: number): void => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, true); regs.write(off, b); };
  const negotiate = (hi: number): boolean => {
    wr(REG.STATUS, 0);
    wr(REG.STATUS, STATUS.ACKNOWLEDGE);
    wr(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER);
    wr(REG.DRIVER_FEATURES_SEL, 1);
    wr(REG.DRIVER_FEATURES, hi);
    wr(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK);
    return (rd(REG.STATUS) & STATUS.FEATURES_OK) !== 0;
  };
  wr(REG.DEVICE_FEATURES_SEL, 1);
  return { offeredHi: rd(REG.DEVICE_FEATURES), negotiate };
}

test('a device behind the IOMMU offers ACCESS_PLATFORM and refuses FEATURES_OK without it', () => {
  const t = transport(true);
  assert.equal(t.offeredHi & 2, 2);
  assert.equal(t.negotiate(1), false);
  assert.equal(t.negotiate(1 | 2), true);
});

test('a device not behind it never offers ACCESS_PLATFORM', () => {
  const t = transport(false);
  assert.equal(t.offeredHi & 2, 0);
  assert.equal(t.negotiate(1 | 2), false);
  assert.equal(t.negotiate(1), true);
});

test('a buffer over mappings whose pages are apart in RAM comes back as one view per run, in I/O virtual order', () => {
  const s = setup();
  assert.equal(s.status(attach(1, 1)), S.OK);
  // Three pages of I/O virtual space: the first two map RAM pages in reverse order, the third the page after the
  // second's in RAM.
  assert.equal(s.status(map(1, BUFS_IOVA, BUFS_IOVA + 0xfff, BUFS_GPA + 0x1000)), S.OK);
  assert.equal(s.status(map(1, BUFS_IOVA + 0x1000, BUFS_IOVA + 0x1fff, BUFS_GPA)), S.OK);
  assert.equal(s.status(map(1, BUFS_IOVA + 0x2000, BUFS_IOVA + 0x2fff, BUFS_GPA + 0x1000)), S.OK);
  const memory = s.dev.endpointMemory(1, s.mem);
  const trySegments = (addr: number, length: number, access: number): Uint8Array[] | null => {
    const out: Uint8Array[] = [];
    return memory.pushSegments(addr, length, access, out) ? out : null;
  };
  s.mem.writeU8(BUFS_GPA + 0x1000 + 0xffe, 1);
  s.mem.writeU8(BUFS_GPA, 2);
  const views = trySegments(BUFS_IOVA + 0xffe, 4, 1)!;
  assert.deepEqual(views.map((v) => v.length), [2, 2]);
  assert.deepEqual([views[0]![0], views[1]![0]], [1, 2]);
  assert.equal(memory.tryBytes(BUFS_IOVA + 0xffe, 4, 1), null, 'one view cannot span them');
  // Pages that follow on in RAM join into one run.
  assert.deepEqual(trySegments(BUFS_IOVA + 0x1000, 0x2000, 1)!.map((v) => v.length), [0x2000]);
  assert.equal(trySegments(BUFS_IOVA + 0x2000, 0x1001, 1), null, 'past the last mapping is a fault');
  assert.equal(s.dev.counters().faults, 2, 'the single view and the range past the end');
});
