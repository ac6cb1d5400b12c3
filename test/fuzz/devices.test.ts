// Each device's request parsing against chains a hostile guest might post, through the mock driver: plausible
// headers with fields at their edges, truncated or padded, buffers in odd orders, addresses outside RAM. For every
// case the device answers each chain (with a used length no larger than the chain's writable bytes) or fails
// (DEVICE_NEEDS_RESET); it never throws, never asks the host to end the machine, and gives back only RAM.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { DeviceHost } from '../../src/virtio-mmio/device';
import { GuestMemory } from '../../src/base/guest-memory';
import { until } from '../helpers/wait';
import { F_WRITE, MockDriver, mockContext, type Desc } from '../virtio-mmio/mock-driver';
import { forAll, plan } from './property';
import type { Rand } from './prng';
import { RIGS, type Rig } from './device-rigs';

/** Rings at 0x10000 per queue; buffers in DATA; a second region past a hole, as around the MMIO gap. */
const LOW = { gpa: 0, size: 0x200000 };
const HIGH = { gpa: 0x400000, size: 0x10000 };
const DATA = 0x100000;
const QUEUE = 16;

interface Posted { writable: number; valid: boolean }

function buffer(r: Rand, write: boolean, data?: Buffer, fixedLen?: number): Desc & { valid: boolean } {
  const flags = write ? F_WRITE : 0;
  const len = fixedLen ?? (data !== undefined && r.chance(0.8) ? data.length : r.chance(0.9) ? r.int(4096) : r.int(LOW.size - DATA));
  const addr = r.chance(0.03) ? r.pick([LOW.size - 8, HIGH.gpa - 16, 0x1_0000_0000])
    : r.chance(0.1) ? HIGH.gpa + r.int(HIGH.size - Math.min(len, HIGH.size)) : DATA + r.int(LOW.size - DATA - len);
  return { addr, len, flags, valid: [LOW, HIGH].some((g) => addr >= g.gpa && addr + len <= g.gpa + g.size) };
}

/** One chain: the header (maybe cut short or split), more readable bytes, then writable room; rarely out of order. */
function chain(r: Rand, mem: GuestMemory, header: Buffer): { descs: Desc[]; posted: Posted } {
  const parts: (Desc & { valid: boolean })[] = [];
  if (r.chance(0.95)) parts.push(buffer(r, false, header));
  for (let i = r.int(3); i > 0; i--) parts.push(buffer(r, false));
  for (let i = r.int(4); i > 0; i--) parts.push(buffer(r, true));
  if (r.chance(0.5)) parts.push(buffer(r, true, undefined, r.int(2))); // a status byte, or an empty one
  if (parts.length === 0) parts.push(buffer(r, true));
  if (r.chance(0.03)) parts.reverse();
  const ordered = !parts.some((p, i) => i > 0 && !(p.flags & F_WRITE) && parts[i - 1]!.flags & F_WRITE);
  for (const [i, p] of parts.entries()) {
    if (!p.valid) continue;
    const fill = i === 0 && !(p.flags & F_WRITE) ? header : r.bytes(Math.min(p.len, 64));
    mem.write(p.addr, fill.subarray(0, p.len));
  }
  const writable = parts.filter((p) => p.flags & F_WRITE).reduce((n, p) => n + p.len, 0);
  return { descs: parts, posted: { writable, valid: ordered && parts.every((p) => p.valid) } };
}

function inOneRegion(mem: GuestMemory, gpa: number, len: number): boolean {
  return mem.regions.some((g) => gpa >= g.gpa && gpa + len <= g.gpa + g.buffer.byteLength);
}

async function oneCase(rigOf: Rig, mem: GuestMemory, r: Rand, threw: unknown[]): Promise<void> {
  const dev = rigOf.dev;
  mem.fill(0, DATA, 0);
  const drivers = dev.queueMaxSizes.map((_, i) => new MockDriver(QUEUE, 0, { mem, base: 0x10000 * i }));
  const ctx = mockContext(dev, { memory: mem, queues: drivers.map((d) => d.queue()), features: rigOf.features });
  dev.activate(ctx);
  const target = r.pick(rigOf.targets);
  const d = drivers[target]!;
  const posted = new Map<number, Posted>();
  // Chains take consecutive descriptors; the ring holds QUEUE of them in all, so none overwrites another.
  let descs = 0;
  for (let n = r.range(1, 6); n > 0; n--) {
    const c = chain(r, mem, rigOf.header(r));
    descs += c.descs.length;
    if (descs > QUEUE) break;
    posted.set(d.addChain(c.descs), c.posted);
  }
  dev.onQueueNotify(target);
  await until(() => d.usedIdx() === posted.size || ctx.failures.length > 0 || threw.length > 0,
    'every chain answered, or the device failed', 3000);
  assert.deepEqual(threw, [], 'the device asked its host to end the machine');
  const seen = new Set<number>();
  for (let i = 0; i < d.usedIdx(); i++) {
    const { id, len } = d.used(i);
    const p = posted.get(id);
    assert.ok(p !== undefined && !seen.has(id), `used id ${id} was not an outstanding head`);
    seen.add(id);
    assert.ok(p.valid, `chain ${id} broke the ring's rules but was answered`);
    assert.ok(len <= p.writable, `used length ${len} for a chain with ${p.writable} writable bytes`);
  }
  for (const [gpa, len] of rigOf.discards.splice(0)) assert.ok(inOneRegion(mem, gpa, len), `discard of ${gpa}+${len}`);
  dev.reset();
  await dev.quiesce?.();
}

const mem = GuestMemory.forTest([LOW, HIGH]);
const rigs: Rig[] = [];
after(async () => { for (const rg of rigs) await rg.close(); });

for (const [name, make] of Object.entries(RIGS)) {
  test(`${name}: hostile requests are answered within their writable bytes, or cost the device`, async () => {
    const rg = make(mem);
    rigs.push(rg);
    const threw: unknown[] = [];
    const host: DeviceHost = { configChanged: () => undefined, threw: (e) => { threw.push(e); } };
    rg.dev.attach?.(host);
    await forAll(`devices-${name}`, plan(350, 0x5eed0 + name.length), (r) => oneCase(rg, mem, r, threw));
  });
}
