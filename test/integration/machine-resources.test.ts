// A machine in this process gives back every fd and thread it took, whichever way it ends, and several machines
// run side by side without disturbing each other.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { validateConfig } from '../../src/vmm/config';
import { Machine } from '../../src/vmm/machine';
import { kvmUnavailable } from '../helpers/kvm';
import { GUEST_CODE, pvhElf } from '../helpers/pvh-elf';

const skip = kvmUnavailable();
const openFds = (): number => fs.readdirSync('/proc/self/fd').length;

describe('machine resources on /dev/kvm', { skip, timeout: 180_000 }, () => {
  let dir: string;
  const logger = pino({ level: 'silent' });
  const machine = (code: keyof typeof GUEST_CODE, vcpus = 1): { m: Machine; out: () => string } => {
    const kernel = path.join(dir, `${code}.elf`);
    fs.writeFileSync(kernel, pvhElf(GUEST_CODE[code]));
    let out = '';
    const config = validateConfig({ kernel, memory: '64M', vcpus, serial: { mode: 'none' } });
    const m = Machine.create(config, { logger, consoleOutput: (c) => { out += c.toString('latin1'); } });
    return { m, out: () => out };
  };

  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-res-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('closes every fd after a guest reset and after a stop', async () => {
    const before = openFds();
    const a = machine('i8042Reset', 2);
    a.m.start();
    assert.equal((await a.m.wait()).reason, 'reset');
    const b = machine('helloThenSpin');
    b.m.start();
    while (!b.out().includes('hi\n')) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await b.m.stop()).reason, 'stopped');
    assert.equal(openFds(), before);
  });

  it('runs three machines at once; the one that faults leaves the others running', async () => {
    const spinners = [machine('helloThenSpin'), machine('helloThenSpin')];
    const faulty = machine('tripleFault');
    for (const s of spinners) s.m.start();
    faulty.m.start();
    assert.equal((await faulty.m.wait()).reason, 'triple-fault');
    for (const s of spinners) {
      while (!s.out().includes('hi\n')) await new Promise((r) => setTimeout(r, 20));
      assert.ok(s.m.vcpus.every((v) => v.state === 'running'));
    }
    for (const s of spinners) assert.equal((await s.m.stop()).reason, 'stopped');
  });

  it('pauses and resumes a running machine', async () => {
    const s = machine('helloThenSpin', 2);
    s.m.start();
    while (!s.out().includes('hi\n')) await new Promise((r) => setTimeout(r, 20));
    for (const v of s.m.vcpus) v.pause();
    const deadline = Date.now() + 5000;
    while (s.m.vcpus.some((v) => v.state !== 'paused') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(s.m.vcpus.map((v) => v.state), ['paused', 'paused']);
    for (const v of s.m.vcpus) v.resume();
    while (s.m.vcpus[0]!.state !== 'running' && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 10));
    assert.equal(s.m.vcpus[0]!.state, 'running');
    await s.m.stop();
  });
});
