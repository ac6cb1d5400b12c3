// Which kind of KVM the tests (and the benchmark) run on. Figures mean something only on 'native KVM': under the
// nested test host every exit is emulated by QEMU's TCG, and on kvm_pvm guest kernel code is emulated.
import * as fs from 'node:fs';
import { isPvmHost } from '../../src/vmm/host-quirks';
import type { HostKind } from '../run/tally';
import { kvmUnavailable } from './kvm';

/** True inside the test host, or on any /dev/kvm whose CPU is QEMU's TCG (the L1 CPU model says so). */
export function kvmIsEmulated(env: NodeJS.ProcessEnv = process.env, cpuinfo = '/proc/cpuinfo'): boolean {
  if (env.TSVMM_TEST_HOST === 'nested-l1') return true;
  try {
    return /^model name\s*:.*\bTCG\b/m.test(fs.readFileSync(cpuinfo, 'utf8'));
  } catch {
    return false;
  }
}

export function hostKind(): HostKind {
  if (kvmUnavailable() !== undefined) return 'no KVM';
  if (kvmIsEmulated()) return 'nested L1';
  if (isPvmHost()) return 'kvm_pvm';
  return 'native KVM';
}
