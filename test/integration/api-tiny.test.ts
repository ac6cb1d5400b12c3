// The programmatic API driving the tiny test kernel (test/guest) on /dev/kvm: several sandboxes at once, each doing
// real virtio work, pause / resume of a guest whose progress can be watched, and a stop while it is busy.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createVm } from '../../src/api/create';
import type { Vm } from '../../src/api/vm';
import { parseTestKernelOutput } from '../../src/guest/test-kernel-output';
import type { DeviceConfigInput } from '../../src/vmm/config';
import { kvmUnavailable } from '../helpers/kvm';
import { testKernel } from '../helpers/tiny';
import { until } from '../helpers/wait';

const skip = kvmUnavailable();

/** A safety net for each wait, which ends on what it waits for; under emulated KVM each exit costs up to 0.1 ms. */
const LIMIT_MS = 300_000;

describe('the programmatic API with the tiny test kernel', { skip, timeout: 6 * LIMIT_MS }, () => {
  let dir: string;
  let kernel: string;
  const vms: Vm[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-api-tiny-'));
    kernel = await testKernel();
  });
  after(async () => {
    await Promise.all(vms.map((vm) => vm.kill()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function boot(cmdline: string, devices: DeviceConfigInput[] = []): Promise<{ vm: Vm; out: () => string }> {
    const vm = await createVm({ kernel, memory: '64M', cmdline, devices });
    vms.push(vm);
    let out = '';
    vm.console.on('data', (d: Buffer) => { out += d.toString('latin1'); });
    vm.start();
    return { vm, out: () => out };
  }

  /** The last `tick=` a spinning guest printed. */
  const lastTick = (out: string): number => {
    const ticks = [...out.matchAll(/TSVMM-DATA: spin tick=(\d+)/g)];
    return ticks.length ? Number(ticks.at(-1)![1]) : 0;
  };

  async function untilTick(m: { vm: Vm; out: () => string }, tick: number): Promise<void> {
    const deadline = Date.now() + LIMIT_MS;
    while (lastTick(m.out()) < tick) {
      if (Date.now() > deadline || m.vm.state === 'exited') {
        assert.fail(`no tick ${tick} on the console (machine ${m.vm.state}, limit ${LIMIT_MS} ms): ${m.out().slice(-500)}`);
      }
      await sleep(10);
    }
  }

  it('runs sandboxes side by side, each with its own devices and verdict, and stops a busy one alone', async () => {
    const image = path.join(dir, 'disk.img');
    fs.writeFileSync(image, Buffer.alloc(4 << 20));
    const spinning = await boot('test=spin spin_ms=20');
    const rng = await boot('test=rng', [{ type: 'rng' }]);
    const blk = await boot('test=blk', [{ type: 'blk', path: image, serial: 'api-tiny' }]);
    const scratch = path.join(dir, 'scratch.img');
    fs.writeFileSync(scratch, Buffer.alloc(4 << 20));
    const torture = await boot('test=torture', [{ type: 'blk', path: scratch }]);
    const ends = await Promise.all([rng, blk, torture].map((m) => m.vm.wait()));
    for (const [i, m] of [rng, blk, torture].entries()) {
      const verdict = parseTestKernelOutput(m.out()).verdict;
      assert.equal(verdict?.passed, true, m.out());
      assert.equal(ends[i]!.status, 0, JSON.stringify(ends[i]));
    }
    // The torture run broke its device on purpose many times; the spinning neighbour never noticed.
    const before = lastTick(spinning.out());
    await untilTick(spinning, before + 3);
    assert.equal(spinning.vm.state, 'running');
    const exit = await spinning.vm.stop({ timeoutMs: 0 });
    assert.equal(exit.reason, 'stopped');
  });

  it('pauses a spinning guest (no progress while paused) and resumes it', async () => {
    const m = await boot('test=spin spin_ms=10');
    await untilTick(m, 3);
    await m.vm.pause();
    assert.equal(m.vm.state, 'paused');
    // Ticks the guest wrote before the pause may still be in the UART's ring: wait until the host has drained it.
    await until(() => m.vm.machine.serial.pendingOutput === 0, 'the UART\'s ring to drain after the pause', LIMIT_MS,
      { everyMs: 10 });
    const atPause = lastTick(m.out());
    const exitsPaused = m.vm.counters().vcpus[0]!.exits.io;
    // Proving that nothing happens takes a window of time; no event can stand for it. The guest ticks every 10 ms.
    await sleep(300);
    assert.equal(lastTick(m.out()), atPause, 'no tick while paused');
    assert.equal(m.vm.counters().vcpus[0]!.exits.io, exitsPaused, 'no exit while paused');
    await m.vm.resume();
    await untilTick(m, lastTick(m.out()) + 5);
    const exit = await m.vm.stop({ timeoutMs: 0 });
    assert.equal(exit.reason, 'stopped');
  });

  it('a guest that ends by itself reports its status through wait()', async () => {
    const m = await boot('test=spin spin_ms=5 spin_ticks=4');
    const exit = await m.vm.wait();
    assert.equal(exit.status, 0, JSON.stringify(exit));
    assert.match(m.out(), /TSVMM-TEST: PASS spin/);
    assert.equal(lastTick(m.out()), 4);
  });
});
