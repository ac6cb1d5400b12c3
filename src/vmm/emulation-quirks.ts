// On hosts whose KVM emulates guest kernel code (ENVIRONMENT: PVM), the emulator cannot execute INT3 or FWAIT.
// When an emulation failure lands on an 0xCC byte, deliver the #BP the instruction would have raised: move RIP past
// it (a breakpoint is a trap, so the handler sees the next instruction) and inject vector 3. On an 0x9B byte
// (FWAIT), step over it: with no x87 exception pending it does nothing, and Linux's one FWAIT at CPL0 (fpu__drop,
// run by every thread that exits) ignores a fault there anyway.
import { native, type SharedMapping } from '../base/native';
import type { VcpuWorkerData } from './vcpu-protocol';

let mapped: { gpa: number; size: number; mapping: SharedMapping; bytes: Uint8Array }[] | undefined;

function guestByte(data: VcpuWorkerData, gpa: bigint): number | undefined {
  if (mapped === undefined) {
    const n = native();
    mapped = data.memory.regions.map((r) => {
      const mapping = new n.SharedMapping(data.memory.fd, r.size, r.offset);
      return { gpa: r.gpa, size: r.size, mapping, bytes: new Uint8Array(mapping.buffer!) };
    });
  }
  const addr = Number(gpa);
  for (const r of mapped) {
    if (addr >= r.gpa && addr < r.gpa + r.size) return r.bytes[addr - r.gpa];
  }
  return undefined;
}

/** Unmaps the guest RAM this thread mapped to read instructions, if it did. */
export function closeGuestBytes(): void {
  for (const r of mapped ?? []) r.mapping.close();
  mapped = undefined;
}

const INT3 = 0xcc;
const FWAIT = 0x9b;
/** FWAIT comes back with every thread that exits: said once per vCPU thread, not each time. */
let fwaitSaid = false;

/** True when the failed instruction was one of the two this quirk stands in for, and it did. */
export function tryEmulationQuirk(data: VcpuWorkerData, log: (level: 'info', msg: string) => void): boolean {
  const n = native();
  const regs = n.getRegs(data.vcpuFd);
  const t = n.translate(data.vcpuFd, regs.rip);
  const byte = t.valid ? guestByte(data, t.physical) : undefined;
  if (byte !== INT3 && byte !== FWAIT) return false;
  const at = regs.rip;
  regs.rip += 1n;
  n.setRegs(data.vcpuFd, regs);
  if (byte === INT3) {
    n.injectException(data.vcpuFd, { nr: 3, hasErrorCode: false, errorCode: 0 });
    log('info', `host emulator cannot run INT3 at rip 0x${at.toString(16)}: injected #BP instead`);
  } else if (!fwaitSaid) {
    fwaitSaid = true;
    log('info', `host emulator cannot run FWAIT at rip 0x${at.toString(16)}: stepped over it (and will again)`);
  }
  return true;
}
