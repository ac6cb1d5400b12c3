// What the host offers a VMM: device nodes, kernel modules, privileges and the native addon, each asked in one
// cheap call. The preflight checks (preflight.ts) and `tsvmm doctor` read the host only through a HostProbe, so
// tests hand them a made-up host.
import * as fs from 'node:fs';
import { native } from '../base/native';

export interface HostProbe {
  /** undefined when the device node opens for reading and writing, else the errno code (ENOENT, EACCES, ...). */
  openDevice(path: string): string | undefined;
  /** Whether a kernel module is loaded (or built in): /sys/module/NAME, or a line of /proc/modules. */
  moduleLoaded(name: string): boolean;
  /** undefined when the native addon loads, else its NativeAddonError's message. */
  addonError(): string | undefined;
  /** Whether this process may create network interfaces: root, or CAP_NET_ADMIN in its effective set. */
  canAdminNet(): boolean;
  /** Whether a network interface of this name exists (/sys/class/net/NAME). */
  netInterfaceExists(name: string): boolean;
}

const CAP_NET_ADMIN = 12;

function openDevice(p: string): string | undefined {
  try {
    fs.closeSync(fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_NONBLOCK));
    return undefined;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'EIO';
  }
}

function moduleLoaded(name: string): boolean {
  if (fs.existsSync(`/sys/module/${name}`)) return true;
  try {
    return fs.readFileSync('/proc/modules', 'utf8').split('\n').some((line) => line.startsWith(`${name} `));
  } catch {
    return false;
  }
}

function addonError(): string | undefined {
  try {
    native();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** The effective capability set from /proc/self/status (CapEff, hexadecimal). */
export function effectiveCaps(status: string): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/im.exec(status);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

function canAdminNet(): boolean {
  if (process.getuid?.() === 0) return true;
  try {
    return (effectiveCaps(fs.readFileSync('/proc/self/status', 'utf8')) >> BigInt(CAP_NET_ADMIN)) & 1n ? true : false;
  } catch {
    return false;
  }
}

/** This machine. */
export function hostProbe(): HostProbe {
  return {
    openDevice,
    moduleLoaded,
    addonError,
    canAdminNet,
    netInterfaceExists: (name) => fs.existsSync(`/sys/class/net/${name}`),
  };
}

/** The KVM modules tsvmm can tell apart, in the order a host is described by. */
export const KVM_MODULES = ['kvm_intel', 'kvm_amd', 'kvm_pvm'] as const;

/** Which KVM implementations are loaded (kvm_intel, kvm_amd: hardware virtualization; kvm_pvm: PVM). */
export function kvmModules(probe: HostProbe): string[] {
  return KVM_MODULES.filter((m) => probe.moduleLoaded(m));
}
