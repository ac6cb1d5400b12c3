// Loads a guest for booting: kernel (ELF or bzImage), initrd and command line into guest memory, with the boot
// structures of the chosen entry ABI, and returns the vCPU state the boot vCPU starts with. No KVM calls here:
// the caller hands the returned registers, sregs, FPU state and MSRs to the vCPU.
import type { GuestMemory } from '../../base/guest-memory';
import type { FpuState, MsrEntry, Regs, Sregs } from '../../base/kvm-types';
import { writeZeroPage } from './boot-params';
import { isBzImage, loadBzImage, parseBzImage, placeBzImage } from './bzimage';
import { writeCmdline } from './cmdline';
import { applySregs, linux64State, pvhState, type CpuState, type SregsChanges } from './cpu-state';
import { BootError, hex } from './errors';
import { isElf, loadElf, parseElf } from './elf';
import { writeBootGdt } from './gdt';
import { alignDown, alignUp, CMDLINE_MAX_BYTES, e820Table, lowRamEnd, PAGE_SIZE, ramRegions } from './layout';
import { bootMsrs } from './msrs';
import { MP_MAX_VCPUS, writeMpTable } from './mptable';
import { writeIdentityMap } from './page-tables';
import { writeStartInfo } from './pvh';
import { writeAcpiTables, type AcpiPlatform } from '../acpi';

export { BootError } from './errors';

export const BOOT_PROTOCOL_CHOICES = ['auto', 'linux64', 'pvh'] as const;
export type BootProtocolChoice = (typeof BOOT_PROTOCOL_CHOICES)[number];
export type BootProtocolUsed = 'linux64' | 'pvh';

export interface BootOptions {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline: string;
  vcpus: number;
  /** Guest RAM in bytes, laid out by ramRegions(); `mem` must be that memory. */
  memBytes: number;
  /** 'auto': PVH for an ELF with a PVH note, the 64-bit Linux protocol otherwise. */
  protocol?: BootProtocolChoice;
  /** The machine as ACPI tables describe it; absent: the MP table alone. */
  acpi?: AcpiPlatform;
}

/** [start, end) in guest physical memory. */
export interface AddressRange { start: number; end: number }

export interface BootSetup {
  protocol: BootProtocolUsed;
  kernelFormat: 'elf' | 'bzimage';
  /** Where the boot vCPU starts (RIP). */
  entry: number;
  regs: Regs;
  /** Only the fields the boot changes. */
  sregsChanges: SregsChanges;
  /** The boot vCPU's sregs: `current` (from KVM_GET_SREGS) with the boot changes applied. */
  sregs(current: Sregs): Sregs;
  fpu: FpuState;
  /** For every vCPU. */
  msrs: MsrEntry[];
  kernelRange: AddressRange;
  initrdRange?: AddressRange;
  cmdline: { addr: number; length: number };
  /** The zero page (linux64) or hvm_start_info (pvh). */
  bootInfoAddr: number;
  mpTable: { addr: number; size: number };
  /** Where the RSDP is, when the machine has ACPI tables. */
  acpiRsdp?: number;
}

interface LoadedKernel {
  format: 'elf' | 'bzimage';
  protocol: BootProtocolUsed;
  entry: number;
  range: AddressRange;
  /** Inclusive; the initrd must end at or below it. */
  initrdAddrMax?: number;
  cmdlineMax?: number;
  setupHeader?: Uint8Array;
}

function checkOptions(mem: GuestMemory, o: BootOptions): void {
  if (!Number.isInteger(o.vcpus) || o.vcpus < 1 || o.vcpus > MP_MAX_VCPUS) {
    throw new BootError(`vcpus: ${o.vcpus} is not between 1 and ${MP_MAX_VCPUS}`);
  }
  const protocol = o.protocol ?? 'auto';
  if (!BOOT_PROTOCOL_CHOICES.includes(protocol)) {
    throw new BootError(`boot: ${JSON.stringify(protocol)} is not one of ${BOOT_PROTOCOL_CHOICES.join(', ')}`);
  }
  for (const r of ramRegions(o.memBytes)) {
    if (!mem.contains(r.gpa, r.size)) {
      throw new BootError(`memory: ${o.memBytes} bytes does not match the guest RAM given (${mem.size} bytes)`);
    }
  }
}

function loadElfKernel(mem: GuestMemory, o: BootOptions, want: BootProtocolChoice): LoadedKernel {
  const img = parseElf(o.kernel);
  const protocol: BootProtocolUsed = want === 'auto' ? (img.pvhEntry !== undefined ? 'pvh' : 'linux64') : want;
  if (protocol === 'pvh' && img.pvhEntry === undefined) {
    throw new BootError(
      'kernel: boot protocol pvh needs a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) and the ELF has none');
  }
  loadElf(mem, o.kernel, img, lowRamEnd(o.memBytes));
  return {
    format: 'elf',
    protocol,
    entry: protocol === 'pvh' ? img.pvhEntry! : img.entry64,
    range: { start: img.lowest, end: img.highest },
  };
}

function loadBzImageKernel(mem: GuestMemory, o: BootOptions, want: BootProtocolChoice): LoadedKernel {
  if (want === 'pvh') {
    throw new BootError('kernel: boot protocol pvh needs an ELF kernel with a PVH note, not a bzImage');
  }
  const img = parseBzImage(o.kernel);
  const place = placeBzImage(img, lowRamEnd(o.memBytes));
  loadBzImage(mem, o.kernel, img, place);
  return {
    format: 'bzimage',
    protocol: 'linux64',
    entry: place.entry64,
    range: { start: place.loadAddr, end: place.end },
    initrdAddrMax: img.initrdAddrMax,
    cmdlineMax: img.cmdlineMax,
    setupHeader: img.setupHeader,
  };
}

function loadKernel(mem: GuestMemory, o: BootOptions): LoadedKernel {
  const want = o.protocol ?? 'auto';
  if (isElf(o.kernel)) return loadElfKernel(mem, o, want);
  if (isBzImage(o.kernel)) return loadBzImageKernel(mem, o, want);
  throw new BootError('kernel: not an ELF64 x86_64 file or a bzImage');
}

/** The initrd goes page-aligned as high as it may in RAM below the MMIO gap, clear of the kernel. */
function placeInitrd(mem: GuestMemory, initrd: Uint8Array, memBytes: number, kernel: LoadedKernel): AddressRange {
  const limit = kernel.initrdAddrMax !== undefined ? kernel.initrdAddrMax + 1 : Infinity;
  const top = Math.min(lowRamEnd(memBytes), limit);
  const floor = alignUp(kernel.range.end, PAGE_SIZE);
  const start = alignDown(top - initrd.length, PAGE_SIZE);
  if (start < floor) {
    throw new BootError(`initrd: ${initrd.length} bytes do not fit between the kernel's end ${hex(floor)} ` +
      `and ${hex(top)}`);
  }
  mem.write(start, initrd);
  return { start, end: start + initrd.length };
}

export function prepareBoot(mem: GuestMemory, o: BootOptions): BootSetup {
  checkOptions(mem, o);
  const kernel = loadKernel(mem, o);
  const initrdRange = o.initrd && o.initrd.length > 0 ? placeInitrd(mem, o.initrd, o.memBytes, kernel) : undefined;
  const initrd = initrdRange ? { addr: initrdRange.start, size: initrdRange.end - initrdRange.start } : undefined;
  const cmdline = writeCmdline(mem, o.cmdline, kernel.cmdlineMax);
  const gdt = writeBootGdt(mem);
  // The MP table stays with ACPI: a kernel built without ACPI still finds its CPUs and IOAPIC.
  const mpTable = writeMpTable(mem, o.vcpus);
  const rsdpAddr = o.acpi ? writeAcpiTables(mem, o.acpi) : undefined;
  const e820 = e820Table(o.memBytes);
  let state: CpuState;
  let bootInfoAddr: number;
  if (kernel.protocol === 'pvh') {
    bootInfoAddr = writeStartInfo(mem, { cmdlineAddr: cmdline.addr, initrd, memmap: e820, rsdpAddr });
    state = pvhState({ entry: kernel.entry, startInfo: bootInfoAddr, gdt });
  } else {
    bootInfoAddr = writeZeroPage(mem, {
      setupHeader: kernel.setupHeader,
      cmdlineAddr: cmdline.addr,
      cmdlineCapacity: CMDLINE_MAX_BYTES,
      initrd,
      e820,
      rsdpAddr,
    });
    const cr3 = writeIdentityMap(mem);
    state = linux64State({ entry: kernel.entry, zeroPage: bootInfoAddr, cr3, gdt });
  }
  const changes = state.sregs;
  const setup: BootSetup = {
    protocol: kernel.protocol,
    kernelFormat: kernel.format,
    entry: kernel.entry,
    regs: state.regs,
    sregsChanges: changes,
    sregs: (current: Sregs) => applySregs(current, changes),
    fpu: state.fpu,
    msrs: bootMsrs(),
    kernelRange: kernel.range,
    cmdline,
    bootInfoAddr,
    mpTable,
  };
  if (initrdRange) setup.initrdRange = initrdRange;
  if (rsdpAddr !== undefined) setup.acpiRsdp = rsdpAddr;
  return setup;
}
