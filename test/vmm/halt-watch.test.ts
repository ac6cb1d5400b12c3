// The halt watch: a machine ends only after several probes in a row found every vCPU halted with interrupts off
// (or never started), never on one answer, never while a vCPU is running or has not answered (paused).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HALT_STRIKES, HaltWatch, type ProbedVcpu } from '../../src/vmm/halt-watch';

type Answer = ReturnType<ProbedVcpu['probeAnswer']>;

class FakeVcpu implements ProbedVcpu {
  probes = 0;
  answer: Answer = undefined;
  /** What the worker will say to the next probe. */
  next: Answer = 'running';
  probe(): void {
    this.probes++;
    this.answer = this.next;
  }
  probeAnswer(): Answer {
    return this.answer;
  }
}

function setup(n: number): { vcpus: FakeVcpu[]; watch: HaltWatch; halted: () => number; work: () => void } {
  const vcpus = Array.from({ length: n }, () => new FakeVcpu());
  let count = 0;
  let exits = 0;
  const watch = new HaltWatch(vcpus, () => exits, () => { count++; }, 1_000_000);
  watch.tick(); // the first look at the exit count: a change from nothing, so no probe yet
  return { vcpus, watch, halted: () => count, work: () => { exits++; } };
}

test('every vCPU halted with interrupts off, probe after probe: the machine ends once', () => {
  const { vcpus, watch, halted } = setup(2);
  vcpus[0]!.next = 'halted';
  vcpus[1]!.next = 'waiting'; // an application processor the guest never started
  watch.tick(); // the first probe: nothing to judge yet
  for (let i = 1; i < HALT_STRIKES; i++) watch.tick();
  assert.equal(halted(), 0, `not before ${HALT_STRIKES} answers in a row`);
  watch.tick();
  assert.equal(halted(), 1);
  const probes = vcpus[0]!.probes;
  watch.tick();
  assert.equal(vcpus[0]!.probes, probes, 'no probe after the verdict');
});

test('one running vCPU, or one answer that says running, starts the count again', () => {
  const { vcpus, watch, halted } = setup(2);
  vcpus[0]!.next = 'halted';
  vcpus[1]!.next = 'running';
  for (let i = 0; i < 10; i++) watch.tick();
  assert.equal(halted(), 0, 'an idle vCPU elsewhere keeps the machine');
  vcpus[1]!.next = 'halted';
  watch.tick(); // asks again; the answers judged next are all halted
  for (let i = 1; i < HALT_STRIKES; i++) watch.tick();
  vcpus[0]!.answer = 'running'; // the pending probe's answer: the guest passed through cli; hlt and went on
  watch.tick();
  assert.equal(halted(), 0);
  for (let i = 0; i < HALT_STRIKES; i++) watch.tick();
  assert.equal(halted(), 1);
});

test('a vCPU that has not answered (paused, in a long exit, or it missed the kick) gives no verdict and is kicked again', () => {
  const { vcpus, watch, halted } = setup(1);
  const v = vcpus[0]!;
  v.next = 'halted';
  watch.tick();
  watch.tick();
  const probes = v.probes;
  for (let i = 0; i < 5; i++) {
    v.answer = undefined; // the probe just asked is still pending
    watch.tick();
  }
  assert.equal(v.probes, probes + 5, 'a pending probe is asked (and the vCPU kicked) again on every tick');
  assert.equal(halted(), 0, 'no verdict without answers');
});

test('a guest that makes exits is never probed, and its exits start the count again', () => {
  const { vcpus, watch, halted, work } = setup(1);
  const v = vcpus[0]!;
  v.next = 'halted';
  for (let i = 0; i < 10; i++) {
    work();
    watch.tick();
  }
  assert.equal(v.probes, 0, 'no kick while the guest is at work');
  for (let i = 0; i < HALT_STRIKES; i++) watch.tick();
  work(); // an exit just before the verdict: the guest moved
  watch.tick();
  assert.equal(halted(), 0);
  for (let i = 0; i <= HALT_STRIKES; i++) watch.tick();
  assert.equal(halted(), 1, 'quiet again, probed again, and then ended');
});

test('waiting vCPUs alone (no vCPU halted) are no halt: a machine whose vCPUs never ran stays', () => {
  const { vcpus, watch, halted } = setup(2);
  for (const v of vcpus) v.next = 'waiting';
  for (let i = 0; i < 10; i++) watch.tick();
  assert.equal(halted(), 0);
});
