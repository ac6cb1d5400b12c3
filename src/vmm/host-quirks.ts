// Workarounds for hosts whose KVM is not hardware virtualization. On a PVM host (kvm_pvm module: guest kernel code
// is emulated instruction by instruction) the emulator cannot execute XRSTOR, CLAC, POPCNT, FNCLEX or INT3 at
// CPL0, so the guest must be kept away from them. On a normal VT-x / AMD-V host none of this applies.
import * as fs from 'node:fs';

export interface HostQuirks {
  /** Why the quirks apply, for the log; empty when they do not. */
  reason: string;
  /** Appended to the guest cmdline. */
  cmdline: string[];
  /** Report GenuineIntel (AuthenticAMD makes Linux run FNCLEX in its FXSAVE-leak workaround). */
  intelVendor: boolean;
  /** Hide XSAVE, SMAP, SMEP and POPCNT in CPUID. */
  maskFeatures: boolean;
  /** Inject #BP when an emulation failure lands on INT3, and step over FWAIT. */
  int3: boolean;
}

export const NO_QUIRKS: HostQuirks = { reason: '', cmdline: [], intelVendor: false, maskFeatures: false, int3: false };

const PVM_CMDLINE = [
  'noxsave',
  'clearcpuid=308,295,151,154',
  'nopti',
  'mitigations=off',
  'tsc=reliable',
  'no_timer_check',
  'lpj=5000000',
  // The crypto manager's self-tests (RSA among them) ran for minutes of emulated kernel code at boot there.
  'cryptomgr.notests=1',
];

export function isPvmHost(sysModule = '/sys/module'): boolean {
  return fs.existsSync(`${sysModule}/kvm_pvm`);
}

/** mode: 'auto' applies the quirks only on a PVM host; 'on' / 'off' force them. */
export function hostQuirks(mode: 'auto' | 'on' | 'off', sysModule?: string): HostQuirks {
  if (mode === 'off') return NO_QUIRKS;
  const pvm = isPvmHost(sysModule);
  if (mode === 'auto' && !pvm) return NO_QUIRKS;
  return {
    reason: pvm ? 'host KVM is kvm_pvm (guest kernel code is emulated)' : 'quirks forced on by config',
    cmdline: PVM_CMDLINE,
    intelVendor: true,
    maskFeatures: true,
    int3: true,
  };
}

/** Appends the quirk parameters the user did not already set (a user's own value wins). */
export function withQuirkCmdline(cmdline: string, quirks: HostQuirks): string {
  const have = new Set(cmdline.split(/\s+/).filter(Boolean).map((p) => p.split('=')[0]));
  const extra = quirks.cmdline.filter((p) => !have.has(p.split('=')[0]));
  return [cmdline.trim(), ...extra].filter(Boolean).join(' ');
}
