// How a machine ends, through the real CLI on /dev/kvm: each cause has its own exit status and message, and the
// process leaves nothing behind (it exits by itself once the machine is gone, so no thread or handle is stuck).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startVmm } from '../helpers/cli-run';
import { kvmUnavailable } from '../helpers/kvm';
import { GUEST_CODE, pvhElf } from '../helpers/pvh-elf';

const skip = kvmUnavailable();

describe('machine lifecycle on /dev/kvm', { skip, timeout: 180_000 }, () => {
  let dir: string;
  const kernel = (name: keyof typeof GUEST_CODE): string => path.join(dir, `${name}.elf`);

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-lifecycle-'));
    for (const name of Object.keys(GUEST_CODE) as (keyof typeof GUEST_CODE)[]) {
      fs.writeFileSync(kernel(name), pvhElf(GUEST_CODE[name]));
    }
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('ends with status 0 when the guest pulses the i8042 reset line', async () => {
    const vmm = startVmm(['run', '--kernel', kernel('i8042Reset'), '--memory', '64M']);
    const { code } = await vmm.exited;
    assert.equal(code, 0, vmm.stderr());
    assert.match(vmm.stderr(), /reset/);
  });

  it('ends with status 6 when the guest halts for good: HLT with interrupts off, its second vCPU never started', async () => {
    const vmm = startVmm(['run', '--kernel', kernel('helloThenSpin'), '--memory', '64M', '--vcpus', '2']);
    await vmm.waitFor('hi\n', 60_000);
    // The watch ends it within about 4 s; the limit is only a net that names what it waited for.
    let limit: NodeJS.Timeout | undefined;
    const { code } = await Promise.race([vmm.exited, new Promise<never>((_, reject) => {
      limit = setTimeout(() => {
        vmm.child.kill('SIGKILL');
        reject(new Error(`the machine did not end within 90 s of its guest halting; stderr: ${vmm.stderr()}`));
      }, 90_000);
    })]).finally(() => clearTimeout(limit));
    assert.equal(code, 6, vmm.stderr());
    assert.match(vmm.stderr(), /halted with interrupts off/);
  });

  it('ends with status 4 on a triple fault', async () => {
    const vmm = startVmm(['run', '--kernel', kernel('tripleFault'), '--memory', '64M']);
    const { code } = await vmm.exited;
    assert.equal(code, 4, vmm.stderr());
    assert.match(vmm.stderr(), /triple/);
  });

  for (const [signal, status] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    it(`ends with status ${status} on ${signal} while the guest runs`, async () => {
      const vmm = startVmm(['run', '--kernel', kernel('helloThenSpin'), '--memory', '64M', '--on-halt', 'wait']);
      await vmm.waitFor('hi\n', 30_000);
      vmm.child.kill(signal);
      const { code } = await vmm.exited;
      assert.equal(code, status, vmm.stderr());
      assert.match(vmm.stderr(), new RegExp(signal));
    });
  }

  it('ends with status 2 and one line naming the field for a bad config', async () => {
    const vmm = startVmm(['run', '--kernel', kernel('i8042Reset'), '--memory', '12 parsecs']);
    const { code } = await vmm.exited;
    assert.equal(code, 2);
    const lines = vmm.stderr().trim().split('\n');
    assert.equal(lines.length, 1, vmm.stderr());
    assert.match(lines[0]!, /memory/);
  });

  it('ends with status 2 and one line naming the kernel when the kernel is no kernel', async () => {
    const notKernel = path.join(dir, 'not-a-kernel.txt');
    fs.writeFileSync(notKernel, 'hello\n');
    const vmm = startVmm(['run', '--kernel', notKernel, '--log-level', 'warn']);
    const { code } = await vmm.exited;
    assert.equal(code, 2);
    assert.match(vmm.stderr().trim(), /^tsvmm: kernel: /);
  });
});
