// The project's Linux kernel on /dev/kvm through the real CLI: it must reach `Run /init` with both vCPUs up.
// On a host whose KVM emulates guest kernel code (kvm_pvm) init's first system call kills it, the kernel panics
// and reboots (panic=-1), and tsvmm ends with the panic status; elsewhere init keeps running and the test stops
// the machine with SIGTERM. The guest artifacts are built first if the cache lacks them (minutes, with progress).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { buildGuest } from '../../src/guest/build';
import { isPvmHost } from '../../src/vmm/host-quirks';
import { startVmm } from '../helpers/cli-run';
import { kvmUnavailable } from '../helpers/kvm';

const skip = kvmUnavailable();
const BOOT_TIMEOUT_MS = 300_000;

describe('Linux on /dev/kvm', { skip, timeout: 3 * BOOT_TIMEOUT_MS }, () => {
  before(async () => {
    await buildGuest({ log: (line) => process.stderr.write(`${line}\n`) });
  }, { timeout: 40 * 60_000 });

  it('boots vmlinux with 2 vCPUs to Run /init, both CPUs up', async () => {
    const vmm = startVmm(['run', 'configs/default.yaml', '--vcpus', '2', '--serial', 'stdio']);
    const ms = await vmm.waitFor('Run /init', BOOT_TIMEOUT_MS);
    process.stderr.write(`# Run /init after ${(ms / 1000).toFixed(1)} s (ELF vmlinux, 2 vCPUs)\n`);
    assert.match(vmm.stdout(), /smp: Brought up 1 node, 2 CPUs/);
    if (isPvmHost()) {
      const { code } = await vmm.exited;
      assert.equal(code, 3, `expected the panic status; stderr:\n${vmm.stderr()}`);
      assert.match(vmm.stderr(), /guest panic/);
    } else {
      vmm.child.kill('SIGTERM');
      const { code } = await vmm.exited;
      assert.equal(code, 143, vmm.stderr());
    }
  });
});
