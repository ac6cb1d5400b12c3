// A made-up host for the preflight checks and `tsvmm doctor`: everything usable unless told otherwise.
import type { HostProbe } from '../../src/vmm/host-probe';

export interface FakeHostOptions extends Partial<HostProbe> {
  /** Device path -> the errno code opening it fails with; absent paths open. */
  devices?: Record<string, string>;
  /** Loaded kernel modules; default kvm and kvm_intel. */
  modules?: string[];
}

export function fakeHost(over: FakeHostOptions = {}): HostProbe {
  const { devices = {}, modules = ['kvm', 'kvm_intel'], ...probe } = over;
  return {
    openDevice: (p) => devices[p],
    moduleLoaded: (m) => modules.includes(m),
    addonError: () => undefined,
    canAdminNet: () => true,
    netInterfaceExists: () => false,
    ...probe,
  };
}
