import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildMpTable, checksum, MP_ENTRY, MP_INT, writeMpTable } from '../../../src/vmm/boot/mptable';
import { GuestMemory } from '../../../src/base/guest-memory';

function sum(bytes: Uint8Array): number {
  return bytes.reduce((n, b) => (n + b) & 0xff, 0);
}

interface Parsed {
  configAddr: number;
  config: Uint8Array;
  entries: { type: number; bytes: Uint8Array }[];
}

/** Parses the table the way a guest does: floating pointer, then the entries by their type's length. */
function parse(table: Uint8Array, base: number): Parsed {
  const v = new DataView(table.buffer, table.byteOffset);
  assert.equal(Buffer.from(table.subarray(0, 4)).toString('latin1'), '_MP_');
  assert.equal(table[8], 1, 'length in paragraphs');
  assert.equal(table[9], 4, 'spec 1.4');
  assert.equal(sum(table.subarray(0, 16)), 0, 'floating pointer checksum');
  const configAddr = v.getUint32(4, true);
  const config = table.subarray(configAddr - base);
  const cv = new DataView(config.buffer, config.byteOffset);
  assert.equal(Buffer.from(config.subarray(0, 4)).toString('latin1'), 'PCMP');
  const length = cv.getUint16(4, true);
  assert.equal(length, config.length);
  assert.equal(sum(config.subarray(0, length)), 0, 'config table checksum');
  assert.equal(cv.getUint32(36, true), 0xfee00000, 'LAPIC address');
  const count = cv.getUint16(34, true);
  const entries: { type: number; bytes: Uint8Array }[] = [];
  let at = 44;
  for (let i = 0; i < count; i++) {
    const type = config[at]!;
    const size = type === MP_ENTRY.PROCESSOR ? 20 : 8;
    entries.push({ type, bytes: config.subarray(at, at + size) });
    at += size;
  }
  assert.equal(at, length, 'entries fill the table exactly');
  return { configAddr, config, entries };
}

test('one processor entry per vCPU, APIC id = index, the BSP flagged', () => {
  for (const vcpus of [1, 4, 254]) {
    const { entries } = parse(buildMpTable(vcpus, 0x9fc00), 0x9fc00);
    const cpus = entries.filter((e) => e.type === MP_ENTRY.PROCESSOR);
    assert.equal(cpus.length, vcpus);
    cpus.forEach((c, i) => {
      assert.equal(c.bytes[1], i, 'APIC id');
      assert.equal(c.bytes[3], i === 0 ? 3 : 1, 'enabled, bootstrap on 0');
    });
  }
});

test('bus, IOAPIC, interrupt and local interrupt entries', () => {
  const { entries } = parse(buildMpTable(4, 0x9fc00), 0x9fc00);
  const byType = (t: number): Uint8Array[] => entries.filter((e) => e.type === t).map((e) => e.bytes);
  const [bus] = byType(MP_ENTRY.BUS);
  assert.equal(Buffer.from(bus!.subarray(2, 8)).toString('latin1'), 'ISA   ');
  const ioapics = byType(MP_ENTRY.IOAPIC);
  assert.equal(ioapics.length, 1);
  const io = new DataView(ioapics[0]!.buffer, ioapics[0]!.byteOffset, 8);
  assert.equal(io.getUint8(1), 4, 'IOAPIC id = vcpus');
  assert.equal(io.getUint8(2), 0x11);
  assert.equal(io.getUint8(3), 1, 'enabled');
  assert.equal(io.getUint32(4, true), 0xfec00000);
  const irqs = byType(MP_ENTRY.IOINTR);
  assert.equal(irqs.length, 24);
  irqs.forEach((e, i) => {
    assert.equal(e[1], MP_INT.INT);
    assert.equal(e[5], i, 'source bus IRQ');
    assert.equal(e[6], 4, 'to the IOAPIC');
    assert.equal(e[7], i, 'pin');
  });
  const lints = byType(MP_ENTRY.LINTR);
  assert.deepEqual(lints.map((l) => [l[1], l[7]]), [[MP_INT.EXTINT, 0], [MP_INT.NMI, 1]]);
});

test('writeMpTable puts it in the EBDA where Linux scans, floating pointer first', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: 0x100000 }]);
  const r = writeMpTable(mem, 2);
  assert.equal(r.addr, 0x9fc00);
  const parsed = parse(mem.read(r.addr, r.size), r.addr);
  assert.equal(parsed.configAddr, 0x9fc10);
});

test('checksum makes bytes sum to zero, and vcpus out of range are refused', () => {
  const bytes = new Uint8Array([1, 2, 250, 0]);
  bytes[3] = checksum(bytes);
  assert.equal(sum(bytes), 0);
  assert.throws(() => buildMpTable(0), { name: 'BootError', message: /^vcpus: 0/ });
  assert.throws(() => buildMpTable(255), /vcpus: 255/);
});
