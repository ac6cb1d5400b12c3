import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ACPI_PM_PORT, ACPI_TABLES_ADDR, buildAcpiTables, writeAcpiTables } from '../../../src/vmm/acpi';
import { BOOT_ARCH, FADT, FADT_BYTES, FADT_FLAG, MADT_ENTRY } from '../../../src/vmm/acpi/tables';
import { ACPI_RESET_VALUE } from '../../../src/devices/acpi-pm';
import { VIRTIO_MMIO_SLOTS } from '../../../src/vmm/boot/layout';
import { GuestMemory } from '../../../src/base/guest-memory';
import { platform } from './fixtures';

const sum = (b: Uint8Array): number => b.reduce((n, x) => (n + x) & 0xff, 0);
const ascii = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

/** Follows the pointers as an OS does, from the RSDP found by scanning the BIOS area, checking every checksum. */
function walk(mem: GuestMemory): Map<string, DataView> {
  let rsdp = -1;
  for (let a = 0xe0000; a < 0x100000 && rsdp < 0; a += 16) if (ascii(mem.read(a, 8)) === 'RSD PTR ') rsdp = a;
  assert.equal(rsdp, ACPI_TABLES_ADDR);
  assert.equal(sum(mem.read(rsdp, 20)), 0, 'RSDP 1.0 checksum');
  assert.equal(sum(mem.read(rsdp, 36)), 0, 'RSDP extended checksum');
  const r = mem.view(rsdp, 36);
  assert.equal(r.getUint8(15), 2, 'revision');
  assert.equal(r.getUint32(20, true), 36, 'length');
  const found = new Map<string, DataView>();
  const table = (addr: number): DataView => {
    const length = mem.view(addr, 8).getUint32(4, true);
    assert.equal(sum(mem.read(addr, length)), 0, `checksum of the table at 0x${addr.toString(16)}`);
    const v = mem.view(addr, length);
    found.set(ascii(mem.read(addr, 4)), v);
    return v;
  };
  const xsdt = table(Number(r.getBigUint64(24, true)));
  for (let at = 36; at < xsdt.byteLength; at += 8) table(Number(xsdt.getBigUint64(at, true)));
  const fadt = found.get('FACP')!;
  table(Number(fadt.getBigUint64(FADT.X_DSDT, true)));
  return found;
}

function guest(): GuestMemory {
  return GuestMemory.forTest([{ gpa: 0, size: 2 * 1024 * 1024 }]);
}

test('an OS finds the RSDP by scanning, and every table it leads to has a good checksum', () => {
  const mem = guest();
  assert.equal(writeAcpiTables(mem, platform(2, 3)), ACPI_TABLES_ADDR);
  assert.deepEqual([...walk(mem).keys()].sort(), ['APIC', 'DSDT', 'FACP', 'XSDT']);
});

test('the FADT is hardware-reduced, with byte-wide I/O sleep and reset registers at the PM ports', () => {
  const mem = guest();
  writeAcpiTables(mem, platform(1, 0));
  const f = walk(mem).get('FACP')!;
  assert.equal(f.byteLength, FADT_BYTES);
  assert.equal(f.getUint8(8), 6, 'revision');
  assert.equal(f.getUint32(FADT.FLAGS, true), FADT_FLAG.HW_REDUCED_ACPI | FADT_FLAG.RESET_REG_SUP);
  assert.ok(f.getUint16(FADT.IAPC_BOOT_ARCH, true) & BOOT_ARCH.I8042, 'the i8042 is declared present');
  assert.equal(f.getUint32(FADT.DSDT, true), 0, 'only X_DSDT');
  const gas = (at: number): number[] => [f.getUint8(at), f.getUint8(at + 1), f.getUint8(at + 2), f.getUint8(at + 3),
    Number(f.getBigUint64(at + 4, true))];
  assert.deepEqual(gas(FADT.SLEEP_CONTROL_REG), [1, 8, 0, 1, ACPI_PM_PORT]);
  assert.deepEqual(gas(FADT.SLEEP_STATUS_REG), [1, 8, 0, 1, ACPI_PM_PORT + 1]);
  assert.deepEqual(gas(FADT.RESET_REG), [1, 8, 0, 1, ACPI_PM_PORT + 2]);
  assert.equal(f.getUint8(FADT.RESET_VALUE), ACPI_RESET_VALUE);
  // No fixed hardware: no SCI, no PM1 blocks, no PM timer.
  for (let at = 46; at < 88; at++) assert.equal(f.getUint8(at), 0, `byte ${at}`);
});

test('the MADT says what the MP table says: LAPICs 0..n-1, the IOAPIC n at GSI 0, IRQ 0 on GSI 0, NMI on LINT1', () => {
  for (const vcpus of [1, 4, 254]) {
    const mem = guest();
    writeAcpiTables(mem, platform(vcpus, 0));
    const m = walk(mem).get('APIC')!;
    assert.equal(m.getUint32(36, true), 0xfee00000);
    assert.equal(m.getUint32(40, true), 1, 'PC-AT compatible');
    const entries: number[][] = [];
    for (let at = 44; at < m.byteLength; at += m.getUint8(at + 1)) {
      entries.push(Array.from({ length: m.getUint8(at + 1) }, (_, i) => m.getUint8(at + i)));
    }
    assert.equal(entries.length, vcpus + 3);
    entries.slice(0, vcpus).forEach((e, id) => assert.deepEqual(e, [MADT_ENTRY.LOCAL_APIC, 8, id, id, 1, 0, 0, 0]));
    assert.deepEqual(entries[vcpus], [MADT_ENTRY.IO_APIC, 12, vcpus, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0]);
    assert.deepEqual(entries[vcpus + 1], [MADT_ENTRY.INTERRUPT_OVERRIDE, 10, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(entries[vcpus + 2], [MADT_ENTRY.LOCAL_APIC_NMI, 6, 0xff, 0, 0, 1]);
  }
});

test('the largest machine fits the BIOS area, tables 16-byte aligned and apart', () => {
  const t = buildAcpiTables(platform(254, VIRTIO_MMIO_SLOTS));
  let end = 0;
  for (const { addr, bytes } of t.tables) {
    assert.equal(addr % 16, 0);
    assert.ok(addr >= end, 'no overlap');
    end = addr + bytes.length;
  }
  assert.ok(end <= 0x100000);
  const mem = guest();
  writeAcpiTables(mem, platform(254, VIRTIO_MMIO_SLOTS));
  walk(mem);
});

test('a machine the tables cannot describe is refused', () => {
  assert.throws(() => buildAcpiTables(platform(0, 0)), RangeError);
  assert.throws(() => buildAcpiTables(platform(255, 0)), RangeError);
});
