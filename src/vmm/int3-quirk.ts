// On hosts whose KVM emulates guest kernel code (ENVIRONMENT: PVM), the emulator cannot execute INT3. When an
// emulation failure lands on an 0xCC byte, deliver the #BP the instruction would have raised: move RIP past it
// (a breakpoint is a trap, so the handler sees the next instruction) and inject vector 3.
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

export function tryInjectBreakpoint(data: VcpuWorkerData, log: (level: 'info', msg: string) => void): boolean {
  const n = native();
  const regs = n.getRegs(data.vcpuFd);
  const t = n.translate(data.vcpuFd, regs.rip);
  if (!t.valid || guestByte(data, t.physical) !== 0xcc) return false;
  regs.rip += 1n;
  n.setRegs(data.vcpuFd, regs);
  n.injectException(data.vcpuFd, { nr: 3, hasErrorCode: false, errorCode: 0 });
  log('info', `host emulator cannot run INT3 at rip 0x${(regs.rip - 1n).toString(16)}: injected #BP instead`);
  return true;
}
