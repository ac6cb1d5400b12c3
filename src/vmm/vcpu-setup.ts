// The architectural state each vCPU starts with: CPUID, MSRs, LAPIC wiring, FPU, and for the boot vCPU the
// registers and segments the boot protocol asks for. Application processors wait for INIT/SIPI in the in-kernel
// LAPIC, so they get everything but registers.
import type { BootSetup } from './boot';
import { bootMsrs } from './boot/msrs';
import { normalizeCpuid } from './boot/cpuid';
import { setLintWiring } from './boot/lapic';
import type { HostQuirks } from './host-quirks';
import type { CpuidEntry } from '../base/kvm-types';
import { native } from '../base/native';
import type { Vcpu } from './vcpu';

export function configureVcpu(
  vcpu: Vcpu, vcpuCount: number, boot: BootSetup, supported: CpuidEntry[], quirks: HostQuirks,
): void {
  const n = native();
  const fd = vcpu.fd;
  vcpu.cpuid = normalizeCpuid(supported, {
    vcpuId: vcpu.index,
    vcpuCount,
    intelVendor: quirks.intelVendor,
    maskForEmulator: quirks.maskFeatures,
  });
  n.setCpuid2(fd, vcpu.cpuid);
  const msrs = bootMsrs();
  const accepted = n.setMsrs(fd, msrs);
  if (accepted !== msrs.length) {
    const refused = msrs[accepted]; // KVM sets them in order and stops at the first it refuses
    throw new Error(refused === undefined
      ? `KVM set ${accepted} of the ${msrs.length} boot MSRs on vCPU ${vcpu.index}`
      : `KVM refused boot MSR 0x${refused.index.toString(16)} on vCPU ${vcpu.index}`);
  }
  const lapic = n.getLapic(fd);
  setLintWiring(lapic);
  n.setLapic(fd, lapic);
  n.setFpu(fd, boot.fpu);
  if (vcpu.index === 0) {
    n.setSregs(fd, boot.sregs(n.getSregs(fd)));
    n.setRegs(fd, boot.regs);
  }
}
