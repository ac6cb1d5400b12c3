// QEMU microvm as the tests and the benchmark run it beside tsvmm: one command line, so the two cannot drift apart.
import { spawnSync } from 'node:child_process';

export interface MicrovmOptions {
  kernel: string;
  /** The guest's cmdline. */
  append: string;
  memMiB: number;
  vcpus?: number;
  initrd?: string;
  /** Guest RAM in a shared memfd, as tsvmm keeps it, so the process's RssShmem is the guest RAM it touched. */
  memfd?: boolean;
  /**
   * The tiny test kernel (test/guest): version-2 virtio-mmio registers, and `exit=debug` so that it ends through
   * isa-debug-exit (QEMU's exit status 1 for a pass, 3 for a failure) where tsvmm ends on its i8042 reset.
   */
  testKernel?: boolean;
  /** -device arguments and their back ends. */
  devices?: string[];
}

/** The arguments of `qemu-system-x86_64` for one guest on the serial console (stdio), ending with it. */
export function microvmArgs(o: MicrovmOptions): string[] {
  const machine = o.memfd
    ? ['-M', 'microvm,acpi=off,memory-backend=ram0', '-object', `memory-backend-memfd,id=ram0,size=${o.memMiB}M`]
    : ['-M', 'microvm,acpi=off'];
  return [...machine, '-enable-kvm', '-cpu', 'qemu64,vendor=GenuineIntel', '-m', String(o.memMiB),
    '-smp', String(o.vcpus ?? 1), '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot',
    '-kernel', o.kernel, '-append', o.testKernel ? `${o.append} exit=debug` : o.append,
    ...(o.testKernel ? ['-global', 'virtio-mmio.force-legacy=false', '-device', 'isa-debug-exit,iobase=0xf4,iosize=4'] : []),
    ...(o.initrd ? ['-initrd', o.initrd] : []),
    ...(o.devices ?? [])];
}

/** virtio-net on an existing tap, with a fixed MAC. */
export function tapNetArgs(tap: string, mac: string): string[] {
  return ['-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`, '-device', `virtio-net-device,netdev=n0,mac=${mac}`];
}

let version: string | null | undefined;

/** The first line of `qemu-system-x86_64 --version` (asked once per process), or undefined without QEMU. */
export function qemuVersion(): string | undefined {
  if (version === undefined) {
    const r = spawnSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' });
    version = r.status === 0 ? r.stdout.split('\n')[0]!.trim() : null;
  }
  return version ?? undefined;
}
