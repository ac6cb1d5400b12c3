import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DMA_READ, DMA_WRITE } from '../../../src/base/guest-memory';
import { FAULT_BACKLOG } from '../../../src/devices/iommu/device';
import { MAX_MAPPINGS_PER_DOMAIN, PROBE_SIZE, S } from '../../../src/devices/iommu/wire';
import { attach, detach, map, probe, PROBE_WRITABLE, setup, unmap } from './harness';

const PAGE = 4096;
const IOVA = 0x1_0000_0000;

test('offers INPUT_RANGE, DOMAIN_RANGE, MAP_UNMAP and PROBE, and says its limits in the config space', () => {
  const { dev } = setup();
  assert.equal(dev.deviceType, 23);
  assert.equal(dev.features, 0b10111n);
  const c = Buffer.from(dev.configSpace());
  assert.equal(c.readBigUInt64LE(0), 0xffff_ffff_ffff_f000n);
  assert.equal(c.readBigUInt64LE(8), 0n);
  assert.equal(c.readBigUInt64LE(16), 0xffff_ffff_ffffn);
  assert.deepEqual([c.readUInt32LE(24), c.readUInt32LE(28)], [1, 64]);
  assert.equal(c.readUInt32LE(32), 512);
});

test('an attached endpoint translates through its domain\'s mappings, with the rights they give', () => {
  const s = setup();
  assert.equal(s.status(attach(1, 1)), S.OK);
  assert.equal(s.status(map(1, IOVA, IOVA + PAGE - 1, 0x40000, 1)), S.OK);
  assert.equal(s.status(map(1, IOVA + PAGE, IOVA + 2 * PAGE - 1, 0x41000, 3)), S.OK);
  const m = s.dev.endpointMemory(1, s.mem);
  s.mem.write(0x40010, Buffer.from('hello'));
  assert.deepEqual(Buffer.from(m.tryBytes(IOVA + 0x10, 5, DMA_READ)!), Buffer.from('hello'));
  // Two mappings whose guest-physical pages follow on are one range; the first is read-only.
  assert.equal(m.tryBytes(IOVA + PAGE - 8, 16, DMA_READ)?.length, 16);
  assert.equal(m.tryBytes(IOVA + PAGE - 8, 16, DMA_WRITE), null);
  assert.ok(m.tryBytes(BigInt(IOVA + PAGE), PAGE, DMA_READ | DMA_WRITE));
  assert.equal(m.tryBytes(IOVA + PAGE, PAGE + 1, DMA_READ), null, 'past the last mapping');
  assert.equal(s.dev.counters().maps, 2);
  assert.equal(s.dev.counters().faults, 2);
});

test('mappings that are not contiguous in guest-physical memory are not joined', () => {
  const s = setup();
  s.status(attach(1, 1));
  s.status(map(1, IOVA, IOVA + PAGE - 1, 0x40000));
  s.status(map(1, IOVA + PAGE, IOVA + 2 * PAGE - 1, 0x80000));
  const m = s.dev.endpointMemory(1, s.mem);
  assert.equal(m.tryBytes(IOVA + PAGE - 1, 2, DMA_READ), null);
  assert.equal(m.tryBytes(IOVA + PAGE, 1, DMA_READ)?.byteOffset, 0x80000);
});

test('a fault is a record on the event queue: MAPPING for an unmapped address, DOMAIN for an unattached endpoint', () => {
  const s = setup();
  const first = s.postEvent();
  const second = s.postEvent();
  s.status(attach(1, 1));
  assert.equal(s.dev.endpointMemory(1, s.mem).tryBytes(IOVA + 0x123, 8, DMA_WRITE), null);
  assert.equal(s.dev.endpointMemory(2, s.mem).tryBytes(0x5000, 4, DMA_READ), null);
  const rec = (at: number) => ({ reason: s.mem.readU8(at), flags: s.mem.readU32(at + 4), endpoint: s.mem.readU32(at + 8),
    address: s.mem.readU64(at + 16) });
  assert.deepEqual(rec(first), { reason: 2, flags: 0x102, endpoint: 1, address: BigInt(IOVA + 0x123) });
  assert.deepEqual(rec(second), { reason: 1, flags: 0x101, endpoint: 2, address: 0x5000n });
  assert.deepEqual(s.evq.used(0), { id: 0, len: 24 });
  assert.equal(s.evq.usedIdx(), 2);
  assert.equal(s.ctx.notified[1], 2);
});

test('faults wait for an event buffer, up to a backlog; past it they are dropped and counted', () => {
  const s = setup();
  const m = s.dev.endpointMemory(1, s.mem);
  for (let i = 0; i < FAULT_BACKLOG + 3; i++) m.tryBytes(i * PAGE, 1, DMA_READ);
  assert.equal(s.evq.usedIdx(), 0);
  const at = s.postEvent();
  assert.equal(s.evq.usedIdx(), 1);
  assert.equal(s.mem.readU64(at + 16), 0n, 'the oldest fault first');
  assert.deepEqual([s.dev.counters().faults, s.dev.counters().faultsDropped], [FAULT_BACKLOG + 3, 3]);
});

test('PROBE answers the MSI window as reserved memory, then the NONE terminator and zeros', () => {
  const s = setup();
  const r = s.send(probe(2), PROBE_WRITABLE);
  assert.deepEqual(r, { status: S.OK, len: PROBE_SIZE + 4 });
  const p = Buffer.from(s.mem.read(0x21000, PROBE_SIZE));
  assert.deepEqual([p.readUInt16LE(0), p.readUInt16LE(2), p[4]], [1, 20, 1]);
  assert.equal(p.readBigUInt64LE(8), 0xfee0_0000n);
  assert.equal(p.readBigUInt64LE(16), 0xfeef_ffffn);
  assert.ok(p.subarray(24).every((b) => b === 0));
  assert.equal(s.send(probe(7), PROBE_WRITABLE)?.status, S.NOENT);
});

test('every malformed request gets the status the spec gives it', () => {
  const s = setup();
  const bad = (b: Buffer, at: number, v: number): Buffer => { b[at] = v; return b; };
  assert.equal(s.status(bad(attach(1, 1), 0, 9)), S.UNSUPP, 'unknown type');
  assert.equal(s.status(bad(attach(1, 1), 2, 1)), S.INVAL, 'reserved head byte');
  assert.equal(s.status(bad(attach(1, 1), 17, 1)), S.INVAL, 'reserved attach byte');
  assert.equal(s.status(attach(1, 1, 1)), S.INVAL, 'bypass flag without BYPASS_CONFIG');
  assert.equal(s.status(attach(1, 1), 8), S.INVAL, 'writable part too long');
  assert.equal(s.send(attach(1, 1), 4, 16)?.status, S.INVAL, 'readable part too short');
  assert.equal(s.status(attach(1, 3)), S.NOENT, 'no such endpoint');
  assert.equal(s.status(attach(0, 1)), S.RANGE, 'domain 0');
  assert.equal(s.status(attach(65, 1)), S.RANGE, 'domain past the range');
  assert.equal(s.status(map(2, 0, PAGE - 1, 0)), S.NOENT, 'MAP on a domain that does not exist');
  assert.equal(s.status(unmap(2, 0, PAGE - 1)), S.NOENT, 'UNMAP on a domain that does not exist');
  assert.equal(s.status(attach(1, 1)), S.OK);
  assert.equal(s.status(map(1, PAGE, PAGE - 1, 0)), S.INVAL, 'start after end');
  assert.equal(s.status(map(1, 0x800, PAGE - 1, 0)), S.RANGE, 'unaligned start');
  assert.equal(s.status(map(1, 0, PAGE - 2, 0)), S.RANGE, 'unaligned end');
  assert.equal(s.status(map(1, 0, PAGE - 1, 0x10)), S.RANGE, 'unaligned phys');
  assert.equal(s.status(map(1, 0, PAGE - 1, 0, 8)), S.INVAL, 'unknown flag');
  assert.equal(s.status(map(1, 0x1_0000_0000_0000n, 0x1_0000_0000_0fffn, 0)), S.RANGE, 'past the input range');
  assert.equal(s.status(map(1, 0, PAGE - 1, 8 << 20)), S.RANGE, 'phys past RAM');
  assert.equal(s.status(map(1, 0, 2 * PAGE - 1, 0)), S.OK);
  assert.equal(s.status(map(1, PAGE, 2 * PAGE - 1, 0)), S.INVAL, 'overlaps a mapping');
  assert.equal(s.status(unmap(1, 0, PAGE - 1)), S.RANGE, 'would cut a mapping in two');
  assert.equal(s.status(unmap(1, PAGE, 3 * PAGE - 1)), S.RANGE, 'would cut a mapping in two, from the other side');
  assert.equal(s.status(bad(unmap(1, 0, 2 * PAGE - 1), 25, 1)), S.INVAL, 'reserved unmap byte');
  assert.equal(s.status(detach(2, 1)), S.INVAL, 'detach from a domain the endpoint is not in');
  assert.equal(s.status(detach(1, 5)), S.NOENT, 'detach of no such endpoint');
  assert.equal(s.status(bad(probe(1), 40, 1), PROBE_WRITABLE), S.INVAL, 'reserved probe byte');
  // No room for the tail: the chain comes back empty.
  assert.deepEqual(s.send(attach(1, 1), 0), { status: s.mem.readU8(0x20fff - 3), len: 0 });
  const c = s.dev.counters();
  assert.deepEqual([c.errUnsupp, c.errNoent, c.errRange, c.errDeverr], [1, 4, 9, 1]);
  assert.equal(c.errInval, 11);
});

test('MAP past the mappings a domain may hold is NOMEM', () => {
  const s = setup();
  s.status(attach(1, 1));
  const d = s.dev.domains.domain(1)!;
  for (let i = 0; i < MAX_MAPPINGS_PER_DOMAIN; i++) {
    s.dev.domains.map(d, { start: i * PAGE, end: i * PAGE + PAGE - 1, phys: 0, flags: 1 });
  }
  assert.equal(s.status(map(1, IOVA, IOVA + PAGE - 1, 0)), S.NOMEM);
  assert.equal(s.dev.counters().errNomem, 1);
});

test('UNMAP removes only the mappings wholly inside its range, and what it removes faults from then on', () => {
  const s = setup();
  s.status(attach(1, 1));
  for (let i = 0; i < 4; i++) s.status(map(1, IOVA + i * PAGE, IOVA + i * PAGE + PAGE - 1, 0x40000 + i * PAGE));
  const m = s.dev.endpointMemory(1, s.mem);
  const before = m.generation;
  assert.equal(s.status(unmap(1, IOVA + PAGE, IOVA + 3 * PAGE - 1)), S.OK);
  assert.notEqual(m.generation, before);
  assert.ok(m.tryBytes(IOVA, PAGE, DMA_READ));
  assert.equal(m.tryBytes(IOVA + PAGE, 1, DMA_READ), null);
  assert.ok(m.tryBytes(IOVA + 3 * PAGE, PAGE, DMA_READ));
  assert.equal(s.status(unmap(1, 0, 0xffff_ffff_ffff_ffffn)), S.OK, 'the whole space');
  assert.deepEqual([s.dev.counters().unmaps, s.dev.counters().mappings], [4, 0]);
});

test('ATTACH moves an endpoint; a domain whose last endpoint leaves is freed with its mappings', () => {
  const s = setup();
  s.status(attach(1, 1));
  s.status(map(1, 0, PAGE - 1, 0x40000));
  assert.equal(s.status(attach(2, 1)), S.OK);
  assert.equal(s.dev.domains.domain(1), undefined);
  assert.equal(s.dev.counters().mappings, 0);
  assert.equal(s.dev.endpointMemory(1, s.mem).tryBytes(0, 1, DMA_READ), null);
  assert.equal(s.status(detach(2, 1)), S.OK);
  assert.equal(s.dev.counters().domains, 0);
});

test('a reply that takes translations away waits until the endpoints have no I/O in flight', async () => {
  const releases: (() => void)[] = [];
  const drained: number[] = [];
  const s = setup({ drain: (id) => { drained.push(id); return new Promise<void>((r) => { releases.push(r); }); } });
  s.status(attach(1, 1));
  s.status(attach(1, 2));
  s.status(map(1, 0, PAGE - 1, 0x40000));
  assert.equal(s.send(unmap(1, 0, PAGE - 1)), undefined, 'not answered yet');
  assert.deepEqual(drained, [1, 2]);
  assert.equal(s.dev.endpointMemory(1, s.mem).tryBytes(0, 1, DMA_READ), null, 'the mapping is gone already');
  s.reqq.addChain([{ addr: 0x20100, len: 36, flags: 0 }, { addr: 0x21100, len: 4, flags: 0x2 }]);
  s.dev.onQueueNotify(0);
  assert.equal(s.reqq.usedIdx(), 3, 'a later request waits behind it');
  for (const release of releases) release();
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(s.reqq.usedIdx(), 5);
  assert.equal(s.mem.readU8(0x21000), S.OK);
});

test('a reset detaches every endpoint: without bypass, all their DMA faults', () => {
  const s = setup();
  s.status(attach(1, 1));
  s.status(map(1, 0, PAGE - 1, 0x40000));
  s.dev.reset();
  assert.equal(s.dev.endpointMemory(1, s.mem).tryBytes(0, 1, DMA_READ), null);
  assert.equal(s.dev.counters().faultsDropped, 1, 'no driver, no event queue');
});
