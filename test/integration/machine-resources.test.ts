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
import { OutputWatch, until } from '../helpers/wait';

const skip = kvmUnavailable();
const openFds = (): number => fs.readdirSync('/proc/self/fd').length;

/**
 * A safety net for each wait, which ends on what it waits for; under emulated KVM a vCPU thread can take seconds to
 * start and an exit up to a tenth of a millisecond.
 */
const LIMIT_MS = 300_000;

describe('machine resources on /dev/kvm', { skip, timeout: 6 * LIMIT_MS }, () => {
  let dir: string;
  const logger = pino({ level: 'silent' });
  const machine = (code: keyof typeof GUEST_CODE, vcpus = 1): { m: Machine; said: (text: string) => Promise<number> } => {
    const kernel = path.join(dir, `${code}.elf`);
    fs.writeFileSync(kernel, pvhElf(GUEST_CODE[code]));
    const watch: OutputWatch = new OutputWatch((): string => `the console so far: ${JSON.stringify(watch.text())}`);
    const config = validateConfig({ kernel, memory: '64M', vcpus, serial: { mode: 'none' }, onHalt: 'wait' });
    const m = Machine.create(config, { logger, consoleOutput: (c) => watch.append(c.toString('latin1')) });
    m.on('exit', (e: { reason: string }) => watch.end(`the machine ended (${e.reason})`));
    return { m, said: (text) => watch.waitFor(text, LIMIT_MS) };
  };
  /** Until every vCPU of `m` is in `state`, failing early once the machine is on its way out. */
  const vcpusIn = (m: Machine, state: string, which = m.vcpus): Promise<number> =>
    until(() => which.every((v) => v.state === state), `vCPUs ${which.map((v) => v.index).join(', ')} to be ${state}`,
      LIMIT_MS, { everyMs: 10, gone: () => (m.phase === 'running' ? undefined : `the machine is ${m.phase}`) });

  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-res-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('closes every fd after a guest reset and after a stop', async () => {
    const before = openFds();
    const a = machine('i8042Reset', 2);
    a.m.start();
    assert.equal((await a.m.wait()).reason, 'reset');
    const b = machine('helloThenSpin');
    b.m.start();
    await b.said('hi\n');
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
      await s.said('hi\n');
      assert.ok(s.m.vcpus.every((v) => v.state === 'running'));
    }
    for (const s of spinners) assert.equal((await s.m.stop()).reason, 'stopped');
  });

  it('pauses and resumes a running machine', async () => {
    const s = machine('helloThenSpin', 2);
    s.m.start();
    await s.said('hi\n');
    for (const v of s.m.vcpus) v.pause();
    await vcpusIn(s.m, 'paused');
    assert.deepEqual(s.m.vcpus.map((v) => v.state), ['paused', 'paused']);
    for (const v of s.m.vcpus) v.resume();
    await vcpusIn(s.m, 'running', [s.m.vcpus[0]!]);
    assert.equal(s.m.vcpus[0]!.state, 'running');
    await s.m.stop();
  });
});
