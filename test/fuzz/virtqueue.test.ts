// The split virtqueue against descriptor tables no driver would write: loops, nested and oversized indirect tables,
// lengths that overflow, addresses in the hole between RAM regions or past the end. Each popped chain is checked
// against an independent walk of the same bytes, and every buffer handed out must lie inside guest RAM.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QueueError, Virtqueue, type DescriptorChain } from '../../src/virtio-mmio/queue';
import { GuestMemory } from '../../src/base/guest-memory';
import { forAll, plan } from './property';
import type { Rand } from './prng';

const F_NEXT = 1;
const F_WRITE = 2;
const F_INDIRECT = 4;
/** Two regions with a hole between them, as around the 32-bit MMIO gap. */
const LOW = { gpa: 0, size: 0x40000 };
const HIGH = { gpa: 0x100000, size: 0x10000 };
const DESC = 0x1000;
const AVAIL = 0x3000;
const USED = 0x5000;
/** Indirect tables and buffers go from here up (and, at times, anywhere). */
const SCRATCH = 0x8000;

interface Buf { gpa: number; len: number; write: boolean }

function address(r: Rand): bigint {
  switch (r.int(8)) {
    case 0: return BigInt(LOW.gpa + LOW.size - r.int(64)); // straddles the end of the low region
    case 1: return BigInt(HIGH.gpa - r.int(64)); // in the hole, or straddling into the high region
    case 2: return BigInt(HIGH.gpa + r.int(HIGH.size + 64));
    case 3: return r.pick([0xffff_ffff_ffff_fff0n, 1n << 53n, (1n << 53n) - 1n, 0x1_0000_0000n]);
    default: return BigInt(SCRATCH + r.int(LOW.size - SCRATCH));
  }
}

function length(r: Rand): number {
  return r.chance(0.7) ? r.int(0x2000) : r.pick([0, 16, 16 * 1024, 16 * 1025, 0xffff_fff0, 0xffff_ffff, r.u32()]);
}

function writeTable(mem: GuestMemory, r: Rand, at: bigint, entries: number, depth: number): void {
  for (let i = 0; i < entries; i++) {
    const e = at + BigInt(16 * i);
    if (!mem.contains(e, 16)) return;
    let flags = r.int(8) | (r.chance(0.05) ? r.int(0x10000) : 0);
    let addr = address(r);
    let len = length(r);
    if (flags & F_INDIRECT && depth < 2 && r.chance(0.5)) {
      // A table worth walking: in RAM, a whole number of descriptors, perhaps itself holding indirect ones.
      const n = r.chance(0.1) ? r.pick([1024, 1025]) : r.range(1, 8);
      addr = BigInt(SCRATCH + 16 * r.int((LOW.size - SCRATCH) / 16 - 8));
      len = 16 * n;
      if (r.chance(0.8)) flags &= ~F_NEXT;
      writeTable(mem, r, addr, Math.min(n, 8), depth + 1);
    }
    mem.writeU64(e, addr);
    mem.writeU32(e + 8n, len);
    mem.writeU16(e + 12n, flags);
    mem.writeU16(e + 14n, r.chance(0.9) ? r.int(Math.max(entries, 1)) : r.int(0x10000));
  }
}

function inRam(gpa: bigint, len: number): boolean {
  return [LOW, HIGH].some((g) => gpa >= BigInt(g.gpa) && gpa + BigInt(len) <= BigInt(g.gpa + g.size));
}

/** The chain the spec (and the queue's stated rules) make of these bytes, or null where it must be refused. */
function referenceWalk(mem: GuestMemory, size: number, head: number, indirectOk: boolean): Buf[] | null {
  if (head >= size) return null;
  const bufs: Buf[] = [];
  let table = BigInt(DESC);
  let entries = size;
  let nested = false;
  let total = 0;
  for (let i = head, seen = 0; ; seen++) {
    if (seen >= entries) return null;
    const d = table + BigInt(16 * i);
    const [addr, len, flags, next] = [mem.readU64(d), mem.readU32(d + 8n), mem.readU16(d + 12n), mem.readU16(d + 14n)];
    if (flags & F_INDIRECT) {
      if (nested || !indirectOk || flags & F_NEXT || len === 0 || len % 16 || len > 16 * 1024 || !inRam(addr, len)) return null;
      [table, entries, nested, i, seen] = [addr, len / 16, true, 0, -1];
      continue;
    }
    if (!inRam(addr, len)) return null;
    const write = (flags & F_WRITE) !== 0;
    if (!write && bufs.some((b) => b.write)) return null;
    bufs.push({ gpa: Number(addr), len, write });
    total += len;
    if (total > 0xffff_ffff) return null;
    if (!(flags & F_NEXT)) return bufs;
    if (next >= entries) return null;
    i = next;
  }
}

function regionOf(mem: GuestMemory, view: Uint8Array): number {
  const r = mem.regions.find((g) => g.buffer === view.buffer);
  assert.ok(r !== undefined, 'a buffer outside every RAM region');
  assert.ok(view.byteOffset + view.byteLength <= r.buffer.byteLength);
  return r.gpa + view.byteOffset;
}

function checkChain(mem: GuestMemory, chain: DescriptorChain, want: Buf[] | null): void {
  assert.ok(want !== null, `chain ${chain.head} was accepted, but the reference walk refuses it`);
  const got = [...chain.readable.map((b) => ({ b, write: false })), ...chain.writable.map((b) => ({ b, write: true }))]
    .map(({ b, write }) => ({ gpa: regionOf(mem, b), len: b.byteLength, write }));
  assert.deepEqual(got, want);
  const sum = (bs: Uint8Array[]): number => bs.reduce((n, b) => n + b.byteLength, 0);
  assert.equal(chain.readableBytes, sum(chain.readable));
  assert.equal(chain.writableBytes, sum(chain.writable));
}

function oneCase(r: Rand): void {
  const mem = GuestMemory.forTest([LOW, HIGH]);
  const size = 2 ** r.int(9);
  const indirect = r.chance(0.8);
  writeTable(mem, r, BigInt(DESC), size, 0);
  const count = r.chance(0.1) ? r.int(0x10000) : r.int(size + 1);
  for (let i = 0; i < size; i++) mem.writeU16(AVAIL + 4 + 2 * i, r.chance(0.9) ? r.int(size) : r.int(0x10000));
  mem.writeU16(AVAIL + 2, count);
  const q = new Virtqueue(mem, { size, desc: BigInt(DESC), avail: BigInt(AVAIL), used: BigInt(USED) },
    { eventIdx: r.chance(0.5), indirect });
  for (let popped = 0; ; popped++) {
    const head = popped < size ? mem.readU16(AVAIL + 4 + 2 * (popped % size)) : -1;
    let chain: DescriptorChain | null;
    try {
      chain = q.pop();
    } catch (e) {
      if (!(e instanceof QueueError)) throw e;
      if (e.code !== 'E_AVAIL_IDX') assert.equal(referenceWalk(mem, size, head, indirect), null, `refused: ${e.message}`);
      return;
    }
    if (chain === null) {
      assert.equal(popped, count, 'every chain made available was popped');
      return;
    }
    assert.equal(chain.head, head);
    checkChain(mem, chain, referenceWalk(mem, size, head, indirect));
    q.pushUsed(chain.head, chain.writableBytes);
  }
}

test('virtqueue: hostile descriptor tables give a chain the reference walk agrees with, or a QueueError', async () => {
  const n = await forAll('virtqueue', plan(800, 0x11), oneCase);
  assert.ok(n >= 3);
});
