// The programmatic API on /dev/kvm with tiny hand-made guests: machines side by side that fail alone, pause and
// resume, stop while busy, graceful stop, disk swaps, and arguments refused with errors that name them.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { createVm } from '../../src/api/create';
import { VmError } from '../../src/api/errors';
import { Vm } from '../../src/api/vm';
import { validateConfig, type MachineConfigInput } from '../../src/vmm/config';
import type { DeviceErrorEvent } from '../../src/vmm/machine';
import { native } from '../../src/base/native';
import { kvmUnavailable } from '../helpers/kvm';
import { GUEST_CODE, pvhElf } from '../helpers/pvh-elf';
import { OutputWatch, until } from '../helpers/wait';

const skip = kvmUnavailable();
/**
 * How long any one wait may take before the test gives up: only a safety net, since every wait ends on what it
 * waits for, and under emulated KVM an exit costs up to a tenth of a millisecond and a vCPU thread seconds to start.
 */
const LIMIT_MS = 300_000;

/** 160 KiB of '.' on COM1 (more than the console stream and the UART's ring hold together), then a panic line. */
const PANIC_AFTER_FLOOD = Uint8Array.from([
  0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
  0xb9, 0x00, 0x80, 0x02, 0x00, // mov ecx, 0x28000
  0xb0, 0x2e, // flood: mov al, '.'
  0xee, // out dx, al
  0x49, // dec ecx
  0x75, 0xfa, // jnz flood
  0xbe, 0x20, 0x00, 0x10, 0x00, // mov esi, message (0x100000 + 32)
  0xac, // print: lodsb
  0x84, 0xc0, // test al, al
  0x74, 0x03, // jz done
  0xee, // out dx, al
  0xeb, 0xf8, // jmp print
  0xfa, // done: cli
  0xf4, // halt: hlt
  0xeb, 0xfd, // jmp halt
  ...Buffer.from('\nKernel panic - not syncing: flooded\n\0', 'latin1'),
]);

describe('the programmatic API on /dev/kvm', { skip, timeout: 6 * LIMIT_MS }, () => {
  let dir: string;
  const vms: Vm[] = [];
  let over = false;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-api-vm-'));
    for (const name of Object.keys(GUEST_CODE) as (keyof typeof GUEST_CODE)[]) {
      fs.writeFileSync(path.join(dir, `${name}.elf`), pvhElf(GUEST_CODE[name]));
    }
    fs.writeFileSync(path.join(dir, 'panicAfterFlood.elf'), pvhElf(PANIC_AFTER_FLOOD));
  });
  // A test that fails half-way must not leave its machines running into the next ones: two busy guests left over
  // take both of a small host's cores, and every later test then crawls.
  afterEach(async () => {
    await Promise.all(vms.splice(0).map((vm) => vm.kill()));
  });
  after(async () => {
    over = true;
    await Promise.all(vms.splice(0).map((vm) => vm.kill()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A machine made here, killed when its test ends; none once the suite is over, when nobody would kill it. */
  async function made(config: MachineConfigInput, options?: Parameters<typeof createVm>[1]): Promise<Vm> {
    if (over) throw new Error('the suite has ended: no more machines');
    const vm = await createVm(config, options);
    vms.push(vm);
    return vm;
  }

  /** A machine running `code`, with its console collected. */
  async function boot(code: keyof typeof GUEST_CODE | 'panicAfterFlood', extra: Partial<MachineConfigInput> = {}, start = true):
    Promise<{ vm: Vm; out: () => string; until: (text: string) => Promise<void> }> {
    // helloThenSpin halts for good on purpose, as the idle guest these tests stop, pause and inspect.
    const vm = await made({ kernel: path.join(dir, `${code}.elf`), memory: '64M', onHalt: 'wait', ...extra });
    const watch: OutputWatch = new OutputWatch((): string => `the console so far: ${JSON.stringify(watch.text().slice(-200))}`);
    vm.console.on('data', (d: Buffer) => watch.append(d.toString('latin1')));
    vm.on('exit', (e) => watch.end(`the machine ended (${e.reason}: ${e.detail})`));
    if (start) vm.start();
    const until = async (text: string): Promise<void> => { await watch.waitFor(text, LIMIT_MS); };
    return { vm, out: () => watch.text(), until };
  }

  const io = (vm: Vm): number => vm.counters().vcpus[0]!.exits.io;

  it('runs machines side by side; one whose device throws and one whose vCPU thread dies end alone', async () => {
    const busy = [await boot('printLoop'), await boot('printLoop')];
    const broken = await boot('helloThenSpin', { devices: [{ type: 'rng' }] });
    const dying = await boot('helloThenSpin');
    for (const m of [...busy, broken, dying]) await m.until(m === broken || m === dying ? 'hi\n' : 'go\n');

    const events: DeviceErrorEvent[] = [];
    broken.vm.on('device-error', (e) => events.push(e));
    const attached = (broken.vm.machine as unknown as { virtio: { attached: { transport: { notify(): void };
      notifyFds: number[] }[] } }).virtio.attached[0]!;
    attached.transport.notify = () => { throw new Error('device model bug'); };
    native().eventfdWrite(attached.notifyFds[0]!); // the guest's queue notify, as the event loop delivers it
    const brokenExit = await broken.vm.wait();
    assert.equal(brokenExit.reason, 'error');
    assert.equal(brokenExit.status, 1);
    assert.match(brokenExit.detail, /devices\[0\] failed: Error: device model bug/);
    assert.deepEqual(events, [{ device: 0, type: 'rng', message: 'device model bug', fatal: true }]);

    // A thread that dies without a word; the kick gets it out of KVM_RUN, where termination cannot reach it.
    const vcpu = dying.vm.machine.vcpus[0]!;
    const terminated = (vcpu as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    native().kick(vcpu.fd);
    await terminated;
    const dyingExit = await dying.vm.wait();
    assert.equal(dyingExit.reason, 'error');
    assert.match(dyingExit.detail, /vCPU 0 thread exited with code 1/);

    const before = busy.map((m) => io(m.vm));
    await until(() => busy.every((m, i) => io(m.vm) > before[i]!), 'the other machines to make more port I/O exits (they still run guest code)',
      LIMIT_MS, { everyMs: 10, gone: () => busy.find((m) => m.vm.state !== 'running')?.vm.state });
    busy.forEach((m) => assert.equal(m.vm.state, 'running'));
    for (const m of busy) assert.equal((await m.vm.stop({ timeoutMs: 0 })).reason, 'stopped');
  });

  it('pauses and resumes: no guest exits while paused; wrong states are VmError ERR_VM_STATE', async () => {
    const m = await boot('printLoop', { vcpus: 2 }, false);
    assert.throws(() => m.vm.pause(), (e: unknown) => e instanceof VmError && e.code === 'ERR_VM_STATE' &&
      e.message === 'cannot pause: the machine is created');
    const seen: string[] = [];
    m.vm.on('paused', () => seen.push('paused'));
    m.vm.on('resumed', () => seen.push('resumed'));
    m.vm.start();
    await m.until('go\n');
    await m.vm.pause();
    await m.vm.pause(); // already paused: nothing to do
    assert.equal(m.vm.state, 'paused');
    assert.deepEqual(m.vm.counters().vcpus.map((v) => v.state), ['paused', 'paused']);
    const frozen = io(m.vm);
    // Proving that nothing happens takes a window of time; no event can stand for it. A running printLoop makes
    // exits back to back, so any window shows one, even under emulation.
    await sleep(200);
    assert.equal(io(m.vm), frozen, 'a paused machine makes no exits');
    await m.vm.resume();
    assert.equal(m.vm.state, 'running');
    await until(() => io(m.vm) > frozen, 'the resumed guest to make port I/O exits again', LIMIT_MS,
      { everyMs: 10, gone: () => (m.vm.state === 'running' ? undefined : `the machine is ${m.vm.state}`) });
    assert.deepEqual(seen, ['paused', 'resumed']);
    await m.vm.stop({ timeoutMs: 0 });
    assert.throws(() => m.vm.resume(), { name: 'VmError', message: 'cannot resume: the machine is exited' });
  });

  it('carries console input to the guest and its answer back, through the console stream', async () => {
    const m = await boot('echo');
    await m.until('e\n');
    m.vm.console.write('ping\n');
    await m.until('e\nping\n');
    await m.vm.kill();
  });

  it('stops a busy machine at once: the console ends, wait() says how, counters stay readable', async () => {
    const m = await boot('printLoop');
    await m.until('go\n');
    const ended = once(m.vm.console, 'end');
    const [exit] = await Promise.all([m.vm.stop({ timeoutMs: 0 }), ended]);
    assert.deepEqual(exit, { reason: 'stopped', detail: 'stopped by force', status: 0 });
    assert.deepEqual(await m.vm.wait(), exit);
    assert.equal(m.vm.state, 'exited');
    assert.ok(m.vm.counters().vcpus[0]!.exits.io > 3);
    assert.match(m.out(), /^go\n\.+$/);
  });

  it('stops gracefully: a guest that hears Ctrl-Alt-Del ends itself; one that does not is forced after the timeout', async () => {
    const listener = await boot('rebootOnCtrlAltDel');
    await listener.until('k\n');
    // The guest polls the keyboard; the long timeout only bounds a guest that never answers, the stop ends sooner.
    const exit = await listener.vm.stop({ timeoutMs: LIMIT_MS });
    assert.deepEqual(exit, { reason: 'reset', detail: 'the guest pulsed the i8042 reset line', status: 0 });

    const deaf = await boot('helloThenSpin');
    await deaf.until('hi\n');
    const forced = await deaf.vm.stop({ timeoutMs: 300 });
    assert.equal(forced.reason, 'stopped');
    assert.match(forced.detail, /did not end within 300 ms of Ctrl-Alt-Del; stopped by force/);

    const paused = await boot('helloThenSpin');
    await paused.until('hi\n');
    await paused.vm.pause();
    assert.equal((await paused.vm.stop()).detail, 'stopped by force', 'a paused guest cannot be asked');
  });

  it('refuses bad arguments with TypeError / RangeError naming the option', async () => {
    const m = await boot('helloThenSpin', {}, false);
    const vm = m.vm;
    assert.throws(() => vm.stop({ timeoutMs: -1 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /"timeoutMs"/ });
    assert.throws(() => vm.stop({ timeoutMs: '1' as never }), { name: 'TypeError', message: /"timeoutMs"/ });
    assert.throws(() => vm.stop({ timeout: 1 } as never), { name: 'TypeError', message: /unknown option "timeout"/ });
    assert.throws(() => vm.stop('now' as never), { name: 'TypeError', message: /"options" argument must be an object/ });
    await assert.rejects(vm.swapDisk('0' as never, 'x.img'), { name: 'TypeError', message: /"device"/ });
    await assert.rejects(vm.swapDisk(3, 'x.img'), { name: 'RangeError', message: /"device"/ });
    await assert.rejects(vm.swapDisk(0, ''), { name: 'TypeError', message: /"path"/ });
    assert.throws(() => vm.setBalloonTarget(-1), { name: 'RangeError', message: /"mib".*got -1/ });
    assert.throws(() => vm.setBalloonTarget(65), { name: 'RangeError', message: /<= 64/ });
    assert.throws(() => vm.setBalloonTarget(1), { name: 'VmError', code: 'ERR_VM_NO_DEVICE',
      message: /^this machine has no balloon device/ });
    assert.throws(() => vm.sendCtrlAltDel(), { name: 'VmError', code: 'ERR_VM_STATE' });
    assert.throws(() => vm.pressPowerButton(), { name: 'VmError', code: 'ERR_VM_STATE' });
    assert.deepEqual(await vm.kill(), { reason: 'stopped', detail: 'stopped before it started', status: 0 });
  });

  it('sets a balloon target on a machine with a balloon device; the device reports it', async () => {
    const m = await boot('helloThenSpin', { devices: [{ type: 'balloon' }] });
    await m.until('hi\n');
    m.vm.setBalloonTarget(16);
    const info = m.vm.balloonStats();
    assert.deepEqual([info.targetPages, info.actualPages], [16 * 256, 0], 'asked for; this guest has no driver to follow');
    assert.throws(() => m.vm.setBalloonTarget(65), { name: 'RangeError', message: /"mib".*<= 64/ });
    await m.vm.kill();
    assert.throws(() => m.vm.setBalloonTarget(1), { name: 'VmError', code: 'ERR_VM_STATE' });
  });

  it('swaps a disk\'s backing file on a live machine; refuses files and devices it cannot use', async () => {
    const img = (name: string, kib: number): string => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, Buffer.alloc(kib * 1024));
      return p;
    };
    const a = img('a.img', 64);
    const b = img('b.img', 64);
    const c = img('c.img', 128);
    const m = await boot('helloThenSpin', { devices: [{ type: 'blk', path: a }, { type: 'blk', path: b, readonly: true },
      { type: 'rng' }] });
    await m.until('hi\n');
    await m.vm.swapDisk(0, c);
    const disks = [0, 1, 2].map((i) => (m.vm.machine.virtioDevice(i) as { backingPath?: string } | undefined)?.backingPath);
    assert.deepEqual(disks, [c, b, undefined]);
    // Each failure is a VmError ERR_VM_DISK naming the device, with the errno as cause.code.
    const diskError = (errno: string, message: RegExp) => (e: unknown): boolean =>
      e instanceof VmError && e.code === 'ERR_VM_DISK' && (e.cause as { code?: string }).code === errno
      && message.test(e.message);
    await assert.rejects(m.vm.swapDisk(0, path.join(dir, 'missing.img')),
      diskError('ENOENT', /^devices\[0\]\.path: ENOENT: /));
    await assert.rejects(m.vm.swapDisk(0, b), diskError('EBUSY', /already attached as devices\[1\]/));
    await assert.rejects(m.vm.swapDisk(2, a),
      diskError('EINVAL', /^devices\[2\]: a rng device has no backing file to swap$/));
    await m.vm.swapDisk(1, a); // the readonly disk opens its new file read-only
    assert.deepEqual(m.vm.counters().devices.map((d) => d.type), ['blk', 'blk', 'rng']);
    await m.vm.stop({ timeoutMs: 0 });
    await assert.rejects(m.vm.swapDisk(0, a), { name: 'VmError', message: 'cannot swap a disk: the machine is exited' });
  });

  it('sees a panic though nobody reads the console: the UART keeps draining, what the stream cannot take is counted', async () => {
    const vm = await made({ kernel: path.join(dir, 'panicAfterFlood.elf'), memory: '64M' });
    const panics: string[] = [];
    vm.on('panic', (line) => panics.push(line));
    vm.start();
    const unseen = sleep(LIMIT_MS, undefined, { ref: false }).then(() =>
      assert.fail(`no end of the machine within ${LIMIT_MS} ms: its panic went unseen (${panics.length} panic lines, ` +
        `${vm.counters().vcpus[0]!.exits.io} port I/O exits so far)`));
    const exit = await Promise.race([vm.wait(), unseen]);
    assert.equal(panics.length, 1);
    assert.match(panics[0]!, /^Kernel panic - not syncing/);
    assert.deepEqual([exit.reason, exit.status], ['panic', 3]);
    assert.ok(vm.counters().console.droppedOutput > 0, 'a console nobody reads drops, and says so');
  });

  it('a second stop() during a graceful stop waits for the same end; timeoutMs 0 forces it', async () => {
    const deaf = await boot('helloThenSpin');
    await deaf.until('hi\n');
    const first = deaf.vm.stop({ timeoutMs: 300 });
    assert.equal(deaf.vm.state, 'stopping');
    const second = deaf.vm.stop();
    assert.equal(second, first, 'the pending stop, not a forced one');
    const exit = await second;
    assert.match(exit.detail, /did not end within 300 ms of Ctrl-Alt-Del; stopped by force/);

    const other = await boot('helloThenSpin');
    await other.until('hi\n');
    const graceful = other.vm.stop({ timeoutMs: LIMIT_MS });
    const forced = await other.vm.stop({ timeoutMs: 0 });
    assert.equal(forced.detail, 'stopped by force');
    assert.deepEqual(await graceful, forced);
  });

  it('is stopping from the moment the machine starts to end: every operation then is ERR_VM_STATE', async () => {
    const m = await boot('helloThenSpin', { devices: [{ type: 'balloon' }, { type: 'blk', path: path.join(dir, 'helloThenSpin.elf') }] });
    await m.until('hi\n');
    const ended = m.vm.kill();
    assert.equal(m.vm.state, 'stopping', 'while the vCPU threads wind down');
    const state = { name: 'VmError', code: 'ERR_VM_STATE', message: /: the machine is stopping$/ };
    assert.throws(() => m.vm.sendCtrlAltDel(), state);
    assert.throws(() => m.vm.pressPowerButton(), state);
    assert.throws(() => m.vm.setBalloonTarget(1), state);
    await assert.rejects(m.vm.swapDisk(1, path.join(dir, 'echo.elf')), state);
    assert.throws(() => m.vm.pause(), state);
    await ended;
    assert.equal(m.vm.state, 'exited');
  });

  it('a kernel or disk it cannot open is a ConfigError naming the field', () => {
    const logger = pino({ level: 'silent' });
    const good = validateConfig({ kernel: path.join(dir, 'helloThenSpin.elf'), memory: '64M',
      devices: [{ type: 'blk', path: path.join(dir, 'helloThenSpin.elf') }] }, { baseDir: dir });
    const gone = path.join(dir, 'gone');
    assert.throws(() => new Vm({ ...good, kernel: gone }, { logger, baseDir: dir }),
      { name: 'ConfigError', field: 'kernel', message: /^kernel: ENOENT: .*gone/ });
    const devices = [{ ...good.devices[0]!, path: gone }] as typeof good.devices;
    assert.throws(() => new Vm({ ...good, devices }, { logger, baseDir: dir }),
      { name: 'ConfigError', field: 'devices[0].path', message: /^devices\[0\]\.path: ENOENT: / });
  });

  it('logs at the config\'s log.level through the logger it is given', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'trace' }, { write: (line: string) => { lines.push(line); } });
    const kernel = path.join(dir, 'helloThenSpin.elf');
    for (const level of ['warn', undefined] as const) {
      lines.length = 0;
      const vm = await made({ kernel, memory: '64M', ...(level ? { log: { level } } : {}) }, { logger });
      vm.start();
      await vm.kill();
      const started = lines.some((l) => l.includes('"machine started"'));
      assert.equal(started, level === undefined, `log.level ${level ?? 'info (the default)'}: ${lines.join('')}`);
    }
  });
});
