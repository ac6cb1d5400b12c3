// KVM's side of a snapshot: each vCPU's and the VM's state read out as blobs, and set back in the order KVM needs.
//
// The ioctls are made from the main thread. A paused vCPU's worker sits in Atomics.wait, out of KVM_RUN, with
// any I/O exit already completed (vcpu-worker.ts, completePendingExit); KVM serialises vCPU ioctls on the vCPU's
// own mutex and only asks that they come from the VM's process, so nothing needs the worker's thread.
import type { CpuidEntry } from '../../base/kvm-types';
import { KVM_CAP_XSAVE2, native, type VcpuStateKind, type VmStateKind } from '../../base/native';
import { SnapshotError } from './format';

const XSAVE_LEGACY_BYTES = 4096;
const MSR_ENTRY_BYTES = 16;
/** kvm_clock_data.flags: only KVM_CLOCK_REALTIME means anything to KVM_SET_CLOCK, and the restored clock must not
 * jump by the time the snapshot lay on disk (the TSC it runs on is restored as it was). */
const CLOCK_FLAGS_OFFSET = 8;

export const VCPU_BLOBS: readonly VcpuStateKind[] = ['regs', 'sregs', 'xcrs', 'lapic', 'events', 'mpState', 'debugRegs'];
export const VM_BLOBS: readonly VmStateKind[] = ['picMaster', 'picSlave', 'ioapic', 'pit', 'clock'];

export interface VcpuSnapshot {
  cpuid: CpuidEntry[];
  blobs: Record<VcpuStateKind, Buffer>;
  xsave: Buffer;
  /** kvm_msr_entry records, 16 bytes each. */
  msrs: Buffer;
}

export type VmSnapshot = Record<VmStateKind, Buffer>;

/** The bytes KVM_GET_XSAVE2 / KVM_SET_XSAVE move on this VM, and whether only the 4096-byte ioctls exist. */
export function xsaveSize(vmFd: number): { bytes: number; legacy: boolean } {
  const size = native().checkExtension(vmFd, KVM_CAP_XSAVE2);
  return size > 0 ? { bytes: size, legacy: false } : { bytes: XSAVE_LEGACY_BYTES, legacy: true };
}

/**
 * Every MSR of KVM_GET_MSR_INDEX_LIST this vCPU has. KVM_GET_MSRS stops at the first MSR it cannot read (one the
 * guest's CPUID does not offer): that one is skipped and the read goes on after it.
 */
function readMsrs(kvmFd: number, vcpuFd: number): Buffer {
  const n = native();
  const indices = n.getMsrIndexList(kvmFd);
  const kept: Buffer[] = [];
  let from = 0;
  while (from < indices.length) {
    const entries = Buffer.alloc((indices.length - from) * MSR_ENTRY_BYTES);
    for (let i = from; i < indices.length; i++) entries.writeUInt32LE(indices[i]!, (i - from) * MSR_ENTRY_BYTES);
    const read = n.getMsrEntries(vcpuFd, entries);
    kept.push(entries.subarray(0, read * MSR_ENTRY_BYTES));
    from += read + 1;
  }
  return Buffer.concat(kept);
}

export function captureVcpu(kvmFd: number, vmFd: number, vcpuFd: number, cpuid: CpuidEntry[]): VcpuSnapshot {
  const n = native();
  const kinds = n.STATE_KINDS.vcpu;
  const blobs = {} as Record<VcpuStateKind, Buffer>;
  for (const k of VCPU_BLOBS) blobs[k] = n.getVcpuState(vcpuFd, kinds[k].id);
  const xs = xsaveSize(vmFd);
  return { cpuid, blobs, xsave: n.getXsave(vcpuFd, xs.bytes, xs.legacy), msrs: readMsrs(kvmFd, vcpuFd) };
}

export function captureVm(vmFd: number): VmSnapshot {
  const n = native();
  const out = {} as VmSnapshot;
  for (const k of VM_BLOBS) out[k] = n.getVmState(vmFd, n.STATE_KINDS.vm[k].id);
  return out;
}

/** A blob of the size this addon's KVM structs have, or a SnapshotError naming the section. */
export function checkBlobSize(section: string, data: Buffer, bytes: number): Buffer {
  if (data.length !== bytes) {
    throw new SnapshotError('ERR_SNAPSHOT_FORMAT', `state section ${section} is ${data.length} bytes, expected ${bytes}`);
  }
  return data;
}

/**
 * The snapshot's XSAVE area in this VM's size: a smaller one (a host with fewer dynamic state components) is
 * padded with zeros, which its header already says are absent; a larger one holds state this host cannot take.
 */
export function fitXsave(section: string, saved: Buffer, vmFd: number): Buffer {
  const host = xsaveSize(vmFd).bytes;
  if (saved.length > host) {
    throw new SnapshotError('ERR_SNAPSHOT_HOST', `state section ${section} is a ${saved.length}-byte XSAVE area; ` +
      `this host's KVM offers ${host} bytes: its CPU lacks state components the snapshot's guest used`);
  }
  if (saved.length < XSAVE_LEGACY_BYTES || saved.length % 4 !== 0) {
    throw new SnapshotError('ERR_SNAPSHOT_FORMAT', `state section ${section} is ${saved.length} bytes, not an XSAVE area`);
  }
  if (saved.length === host) return saved;
  const padded = Buffer.alloc(host);
  saved.copy(padded);
  return padded;
}

function setMsrs(vcpuFd: number, index: number, msrs: Buffer): void {
  if (msrs.length % MSR_ENTRY_BYTES !== 0) {
    throw new SnapshotError('ERR_SNAPSHOT_FORMAT', `state section vcpu${index}.msrs is not whole 16-byte MSR entries`);
  }
  const entries = Buffer.from(msrs);
  const count = entries.length / MSR_ENTRY_BYTES;
  const set = native().setMsrEntries(vcpuFd, entries);
  if (set !== count) {
    const msr = entries.readUInt32LE(set * MSR_ENTRY_BYTES);
    throw new SnapshotError('ERR_SNAPSHOT_HOST', `KVM refused MSR 0x${msr.toString(16)} of vCPU ${index} ` +
      `(${set} of ${count} set)`);
  }
}

/**
 * Sets a vCPU's state in the order KVM needs: CPUID first (XCR0, XSAVE and MSRs are checked against it), special
 * registers before the LAPIC (the APIC base), the LAPIC before the MSRs (a TSC deadline is taken only in
 * TSC-deadline mode), pending events and the run state last. Every blob has been size-checked by the caller.
 */
export function restoreVcpu(vcpuFd: number, index: number, s: VcpuSnapshot): void {
  const n = native();
  const kinds = n.STATE_KINDS.vcpu;
  const set = (k: VcpuStateKind): void => n.setVcpuState(vcpuFd, kinds[k].id, s.blobs[k]);
  n.setCpuid2(vcpuFd, s.cpuid);
  set('sregs');
  set('regs');
  n.setXsave(vcpuFd, s.xsave);
  // A host CPU without XSAVE reports no XCRs (nr_xcrs 0) and refuses any KVM_SET_XCRS.
  if (s.blobs.xcrs.readUInt32LE(0) !== 0) set('xcrs');
  set('debugRegs');
  set('lapic');
  setMsrs(vcpuFd, index, s.msrs);
  set('events');
  set('mpState');
}

/** The interrupt controllers and the PIT; the clock comes separately, last, just before the vCPUs run. */
export function restoreVmDevices(vmFd: number, s: VmSnapshot): void {
  const n = native();
  for (const k of VM_BLOBS) if (k !== 'clock') n.setVmState(vmFd, n.STATE_KINDS.vm[k].id, s[k]);
}

export function restoreClock(vmFd: number, s: VmSnapshot): void {
  const n = native();
  const clock = Buffer.from(s.clock);
  clock.writeUInt32LE(0, CLOCK_FLAGS_OFFSET);
  n.setVmState(vmFd, n.STATE_KINDS.vm.clock.id, clock);
}
