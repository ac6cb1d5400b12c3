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

function setup(n: number): { vcpus: FakeVcpu[]; watch: HaltWatch; halted: () => number } {
  const vcpus = Array.from({ length: n }, () => new FakeVcpu());
  let count = 0;
  const watch = new HaltWatch(vcpus, () => { count++; }, 1_000_000);
  return { vcpus, watch, halted: () => count };
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

test('a vCPU that has not answered (paused, or in a long exit) gives no verdict and gets no new probe', () => {
  const { vcpus, watch, halted } = setup(1);
  const v = vcpus[0]!;
  v.next = 'halted';
  watch.tick();
  watch.tick();
  v.answer = undefined; // the probe just asked is still pending
  const probes = v.probes;
  for (let i = 0; i < 5; i++) watch.tick();
  assert.equal(v.probes, probes, 'a pending probe is not asked again');
  assert.equal(halted(), 0);
});

test('waiting vCPUs alone (no vCPU halted) are no halt: a machine whose vCPUs never ran stays', () => {
  const { vcpus, watch, halted } = setup(2);
  for (const v of vcpus) v.next = 'waiting';
  for (let i = 0; i < 10; i++) watch.tick();
  assert.equal(halted(), 0);
});
