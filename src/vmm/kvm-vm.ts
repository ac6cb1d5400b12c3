// The KVM objects of one machine: /dev/kvm, the VM, guest RAM (one memfd, one slot per region) and the in-kernel
// interrupt controllers and PIT. Owns the fds and closes them exactly once.
import type { GuestMemory } from '../base/guest-memory';
import { GuestRam, type RamLayout } from '../base/guest-ram';
import { KVM_CAP, native } from '../base/native';

export type { RamLayout } from '../base/guest-ram';

/** Where KVM may put the real-mode TSS (3 pages) and the identity-map page: inside the 32-bit MMIO gap. */
const TSS_ADDR = 0xfffbd000;
const IDENTITY_MAP_ADDR = 0xfffbc000;
const KVM_PIT_SPEAKER_DUMMY = 1;
const KVM_API_VERSION = 12;

export class KvmError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'KvmError';
  }
}

export class KvmVm {
  private fds: number[] = [];
  private closed = false;

  private constructor(readonly kvmFd: number, readonly vmFd: number, readonly ram: GuestRam, readonly runSize: number) {
    const n = native();
    this.fds.push(kvmFd, vmFd);
    ram.memory.regions.forEach((r, slot) => n.setUserMemoryRegion(vmFd, slot, 0, r.gpa, r.buffer));
  }

  /** Guest RAM as TypeScript sees it (ram holds the memfd and its slots too). */
  get memory(): GuestMemory { return this.ram.memory; }

  /**
   * Opens /dev/kvm, checks what this VMM relies on, and creates a VM with guest RAM laid out as given: a new memfd,
   * or what `ram` makes (RAM mapped from a snapshot).
   */
  static create(layout: RamLayout[], options: { devicePath?: string; ram?: (layout: RamLayout[]) => GuestRam } = {}): KvmVm {
    const devicePath = options.devicePath ?? '/dev/kvm';
    const n = native();
    let kvmFd: number;
    try {
      kvmFd = n.openKvm(devicePath);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'ENOENT' ? 'does not exist (no KVM on this host?)'
        : err.code === 'EACCES' ? 'is not accessible (add yourself to the kvm group)' : err.message;
      throw new KvmError(`${devicePath} ${why}`, err.code ?? 'EKVM');
    }
    const fds: number[] = [kvmFd];
    let ram: GuestRam | undefined;
    try {
      const api = n.getApiVersion(kvmFd);
      if (api !== KVM_API_VERSION) throw new KvmError(`KVM API version ${api}, expected ${KVM_API_VERSION}`, 'EKVMAPI');
      for (const [name, cap] of Object.entries(KVM_CAP)) {
        if (name === 'MAX_VCPUS' || name === 'NR_VCPUS') continue;
        if (n.checkExtension(kvmFd, cap) <= 0) throw new KvmError(`KVM lacks capability ${name}`, 'EKVMCAP');
      }
      const runSize = n.getVcpuMmapSize(kvmFd);
      const vmFd = n.createVm(kvmFd);
      fds.push(vmFd);
      n.setTssAddr(vmFd, TSS_ADDR);
      n.setIdentityMapAddr(vmFd, IDENTITY_MAP_ADDR);
      n.createIrqchip(vmFd);
      n.createPit2(vmFd, KVM_PIT_SPEAKER_DUMMY);
      ram = options.ram ? options.ram(layout) : GuestRam.create(layout);
      return new KvmVm(kvmFd, vmFd, ram, runSize);
    } catch (e) {
      for (const fd of fds.reverse()) n.close(fd);
      ram?.close();
      throw e;
    }
  }

  maxVcpus(): number {
    const n = native();
    return n.checkExtension(this.kvmFd, KVM_CAP.MAX_VCPUS) || n.checkExtension(this.kvmFd, KVM_CAP.NR_VCPUS) || 1;
  }

  /** Keeps an fd (a vCPU, an eventfd) to be closed with the VM. */
  own(fd: number): number {
    this.fds.push(fd);
    return fd;
  }

  /** Closes the vCPUs, eventfds and the VM, then unmaps guest RAM: a machine that ended holds no memory. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const n = native();
    for (const fd of this.fds.reverse()) {
      try { n.close(fd); } catch { /* already gone */ }
    }
    this.fds = [];
    this.ram.close();
  }
}
