// What a machine needs from the host, checked before anything is built or opened: /dev/kvm, the native addon,
// and /dev/net/tun (plus the right to make a tap) for each net device. A missing piece is one line saying what to
// do, in milliseconds, instead of a failure after minutes of building guest artifacts. virtio-fs and vsock need
// nothing from the host: tsvmm serves FUSE and the vsock sockets itself (no /dev/fuse, no vhost).
import { hostProbe, kvmModules, type HostProbe } from './host-probe';
import type { MachineConfig } from './config';

export const KVM_DEVICE = '/dev/kvm';
export const TUN_DEVICE = '/dev/net/tun';

/** The host cannot run the machine; the message says what to change. `tsvmm` exits with status 1. */
export class HostError extends Error {
  override name = 'HostError';
}

/** Why /dev/kvm cannot be used (and what to do), or undefined when it can. */
export function kvmProblem(probe: HostProbe): string | undefined {
  const code = probe.openDevice(KVM_DEVICE);
  if (code === undefined) return undefined;
  if (code === 'ENOENT') {
    const loaded = kvmModules(probe);
    if (loaded.length > 0) {
      return `${KVM_DEVICE} does not exist though ${loaded.join(', ')} is loaded: in a container, pass the device ` +
        'in (e.g. --device /dev/kvm); elsewhere create it (mknod /dev/kvm c 10 232)';
    }
    return `${KVM_DEVICE} does not exist: this host has no KVM; load kvm_intel or kvm_amd (modprobe), enable ` +
      'virtualization (VT-x / AMD-V) in the firmware, or use a machine or VM with (nested) virtualization';
  }
  if (code === 'EACCES') {
    return `${KVM_DEVICE} is not accessible (EACCES): add the user to the kvm group (usermod -aG kvm USER, then ` +
      'log in again)';
  }
  if (code === 'EPERM') return `${KVM_DEVICE} cannot be opened (EPERM): a container's device rules forbid it?`;
  return `${KVM_DEVICE} cannot be opened (${code})`;
}

/** Why the tap `tap` (a new tsvmmN when undefined) cannot be opened, and what to do; undefined when it can. */
export function tapProblem(probe: HostProbe, tap: string | undefined): string | undefined {
  const code = probe.openDevice(TUN_DEVICE);
  if (code === 'ENOENT') return `${TUN_DEVICE} does not exist: load the tun module (modprobe tun)`;
  if (code !== undefined) return `${TUN_DEVICE} cannot be opened (${code}): run as root or grant access to it`;
  if (probe.canAdminNet()) return undefined;
  if (tap !== undefined && probe.netInterfaceExists(tap)) return undefined; // a persistent tap the user may own
  const made = tap ?? 'NAME';
  return `creating ${tap === undefined ? 'a tap' : `tap "${tap}"`} needs root or CAP_NET_ADMIN; or make one the ` +
    `user owns first (ip tuntap add ${made} mode tap user USER)${tap === undefined ? ' and name it in tap:' : ''}`;
}

/**
 * Throws HostError for the first thing the host lacks for `config` (for no config: for any machine at all).
 * Checks only what opening and stat-ing tell; the kernel may still refuse later (a KVM capability, say).
 */
export function preflight(config: MachineConfig | undefined, probe: HostProbe = hostProbe()): void {
  const kvm = kvmProblem(probe);
  if (kvm !== undefined) throw new HostError(kvm);
  const addon = probe.addonError();
  if (addon !== undefined) throw new HostError(addon);
  config?.devices.forEach((dev, i) => {
    if (dev.type !== 'net') return;
    const problem = tapProblem(probe, dev.tap);
    if (problem !== undefined) throw new HostError(`devices[${i}] (net): ${problem}`);
  });
}
