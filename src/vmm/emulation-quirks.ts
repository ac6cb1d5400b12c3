// On hosts whose KVM emulates guest kernel code (ENVIRONMENT: PVM), the emulator cannot execute INT3 or FWAIT.
// When an emulation failure lands on an 0xCC byte, deliver the #BP the instruction would have raised: move RIP past
// it (a breakpoint is a trap, so the handler sees the next instruction) and inject vector 3. On an 0x9B byte
// (FWAIT), step over it: with no x87 exception pending it does nothing, and Linux's one FWAIT at CPL0 (fpu__drop,
// run by every thread that exits) ignores a fault there anyway.
import { native } from '../base/native';
import type { VcpuWorkerData } from './vcpu-protocol';

/**
 * The guest byte at `gpa`, read through the main thread's own mapping of guest RAM: a copy-on-write RAM (restored
 * from a snapshot) has its guest's writes only there, so a mapping of the file made here would read stale bytes.
 */
function guestByte(data: VcpuWorkerData, gpa: bigint): number | undefined {
  const addr = Number(gpa);
  const r = data.memory.regions.find((m) => addr >= m.gpa && addr < m.gpa + m.size);
  if (r === undefined) return undefined;
  try {
    return native().readMapping(r.mapping, addr - r.gpa, 1)[0];
  } catch {
    return undefined; // RAM unmapped already: the machine is closing
  }
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
