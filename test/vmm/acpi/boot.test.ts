import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prepareBoot } from '../../../src/vmm/boot';
import { ZP } from '../../../src/vmm/boot/boot-params';
import { PT_NOTE } from '../../../src/vmm/boot/elf';
import { SI } from '../../../src/vmm/boot/pvh';
import { GuestMemory } from '../../../src/base/guest-memory';
import { ACPI_TABLES_ADDR } from '../../../src/vmm/acpi';
import { buildElf, pattern, pvhNote } from '../boot/fixtures';
import { platform } from './fixtures';

const MiB = 1024 * 1024;

function kernel(): Uint8Array {
  return buildElf({
    entry: 0x1000000n,
    segments: [
      { paddr: 0x1000000, vaddr: 0xffffffff81000000n, data: pattern(0x2000, 5), memSize: 0x4000 },
      { type: PT_NOTE, paddr: 0, vaddr: 0n, data: pvhNote(0x1000100), memSize: 0 },
    ],
  });
}

function boot(protocol: 'linux64' | 'pvh', acpi: boolean): { mem: GuestMemory; bootInfo: number; rsdp?: number } {
  const mem = GuestMemory.forTest([{ gpa: 0, size: 64 * MiB }]);
  const setup = prepareBoot(mem, {
    kernel: kernel(), cmdline: '', vcpus: 2, memBytes: 64 * MiB, protocol,
    acpi: acpi ? platform(2, 1) : undefined,
  });
  return { mem, bootInfo: setup.bootInfoAddr, rsdp: setup.acpiRsdp };
}

test('linux64: the zero page carries acpi_rsdp_addr with ACPI, 0 without', () => {
  const on = boot('linux64', true);
  assert.equal(on.rsdp, ACPI_TABLES_ADDR);
  assert.equal(on.mem.view(on.bootInfo + ZP.ACPI_RSDP_ADDR, 8).getBigUint64(0, true), BigInt(ACPI_TABLES_ADDR));
  assert.equal(Buffer.from(on.mem.read(ACPI_TABLES_ADDR, 8)).toString('latin1'), 'RSD PTR ');
  const off = boot('linux64', false);
  assert.equal(off.rsdp, undefined);
  assert.equal(off.mem.view(off.bootInfo + ZP.ACPI_RSDP_ADDR, 8).getBigUint64(0, true), 0n);
  assert.ok(off.mem.read(ACPI_TABLES_ADDR, 4096).every((b) => b === 0), 'no tables without ACPI');
});

test('pvh: hvm_start_info carries rsdp_paddr with ACPI, 0 without; the MP table is there either way', () => {
  const on = boot('pvh', true);
  assert.equal(on.mem.view(on.bootInfo + SI.RSDP_PADDR, 8).getBigUint64(0, true), BigInt(ACPI_TABLES_ADDR));
  const off = boot('pvh', false);
  assert.equal(off.mem.view(off.bootInfo + SI.RSDP_PADDR, 8).getBigUint64(0, true), 0n);
  for (const b of [on, off]) assert.equal(Buffer.from(b.mem.read(0x9fc00, 4)).toString('latin1'), '_MP_');
});
