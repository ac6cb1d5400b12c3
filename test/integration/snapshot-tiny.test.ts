// Snapshots on /dev/kvm with the tiny test kernel's `spin` guest: paused at tick N and written to a folder, the
// machine is killed, and a new process restores it; the guest's next tick there is N + 1, counting on as if it had
// never stopped, and that process ends by itself once the restored machine is stopped. A guest reading virtio-rng
// is snapshotted mid-read and restored: its driver goes on with the restored queue, without negotiating again; so
// does one driving a disk with 32 requests in flight, which end before the snapshot is taken, and one reading a
// keyboard between two key presses, and a balloon that goes on inflating in copy-on-write RAM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createVm } from '../../src/api/create';
import { VmError } from '../../src/api/errors';
import { restoreVm } from '../../src/api/restore';
import { MEMORY_FILE, STATE_FILE } from '../../src/vmm/snapshot/format';
import { REPO } from '../helpers/cli-run';
import { kvmUnavailable } from '../helpers/kvm';
import { sparseImage, testKernel } from '../helpers/tiny';
import { watchConsole } from '../helpers/vm-console';
import { OutputWatch, until } from '../helpers/wait';

const skip = kvmUnavailable();
/** A safety net for each wait, which ends on what it waits for; under emulated KVM each exit costs up to 0.1 ms. */
const LIMIT_MS = 120_000;

/** The ticks of whole `spin` lines (a line cut by the pause ends in the restored process). */
const ticks = (out: string): number[] => [...out.matchAll(/TSVMM-DATA: spin tick=(\d+) loops=/g)].map((m) => Number(m[1]));

/** The restored machine's process: restoreVm, the console to stdout, `stop` on stdin stops it, then its exit. */
const CHILD = `
const { restoreVm } = require(${JSON.stringify(path.join(REPO, 'dist', 'src', 'api', 'restore.js'))});
(async () => {
  const vm = await restoreVm(process.argv[2], { paused: true });
  vm.console.on('data', (d) => process.stdout.write(d));
  process.stdin.on('data', (d) => { if (String(d).includes('stop')) void vm.stop({ timeoutMs: 0 }); });
  await vm.resume();
  process.stdout.write('\\nrestored: ' + vm.state + '\\n');
  const exit = await vm.wait();
  process.stdin.destroy();
  process.stdout.write('\\nrestored machine ended: ' + exit.reason + ' status ' + exit.status + '\\n');
})().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\\n'); process.exitCode = 1; });
`;

describe('snapshots of the tiny test kernel on /dev/kvm', { skip, timeout: 4 * LIMIT_MS }, () => {
  let dir: string;
  let kernel: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-snapshot-'));
    kernel = await testKernel();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses a machine that is not paused', async () => {
    const plain = await createVm({ kernel, memory: '64M', cmdline: 'test=spin' });
    assert.throws(() => plain.snapshot(path.join(dir, 'created')),
      (e: unknown) => e instanceof VmError && e.code === 'ERR_VM_STATE');
    await plain.kill();
  });

  it('restores a paused machine in a new process, where the guest counts on from the snapshot\'s tick', async () => {
    const vm = await createVm({ kernel, memory: '128M', cmdline: 'test=spin spin_ms=100' });
    const out = watchConsole(vm);
    vm.start();
    await until(() => (ticks(out.text()).at(-1) ?? 0) >= 5, 'tick 5 on the console', LIMIT_MS,
      { gone: () => (vm.state === 'exited' ? 'the machine ended' : undefined) });
    await vm.pause();
    const snap = path.join(dir, 'spin');
    await vm.snapshot(snap);
    await new Promise((r) => setImmediate(r)); // the console's last chunk, flushed by the snapshot, arrives
    const atSnapshot = ticks(out.text()).at(-1)!;
    assert.ok(atSnapshot >= 5, out.text().slice(-300));
    await vm.kill();

    // 128 MiB of RAM, of which the guest touched little: memory.bin keeps the rest as holes.
    const mem = fs.statSync(path.join(snap, MEMORY_FILE));
    assert.equal(mem.size, 128 * 1024 * 1024);
    assert.ok(mem.blocks * 512 < 16 * 1024 * 1024, `memory.bin takes ${mem.blocks * 512} bytes on disk`);

    const script = path.join(dir, 'restore-child.js');
    fs.writeFileSync(script, CHILD);
    const child = spawn(process.execPath, [script, snap], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    const restored = new OutputWatch(() => `stderr: ${err}`);
    child.stdout.on('data', (d: Buffer) => restored.append(d.toString('latin1')));
    child.stderr.on('data', (d: Buffer) => { err += d.toString('latin1'); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.on('close', () => restored.end('the restoring process ended'));
    await restored.waitFor(new RegExp(`tick=${atSnapshot + 3} loops=`), LIMIT_MS);
    const resumed = ticks(restored.text());
    assert.deepEqual(resumed.slice(0, 3), [atSnapshot + 1, atSnapshot + 2, atSnapshot + 3],
      `snapshot at tick ${atSnapshot}; restored output:\n${restored.text().slice(0, 600)}`);
    child.stdin.write('stop\n');
    assert.equal(await exited, 0, err);
    assert.match(restored.text(), /restored machine ended: stopped status 0/);
  });

  it('restores a virtio-rng in the middle of the guest\'s reads: its driver goes on, on the restored queue', async () => {
    // 1 MiB at 64 KiB/s: the guest is still reading when it is paused, with requests in the ring.
    const vm = await createVm({ kernel, memory: '64M', cmdline: 'test=rng rng_bytes=1048576 rng_chunk=4096',
      devices: [{ type: 'rng', rateLimit: 65536 }] });
    const requests = (v: typeof vm): number => v.counters().devices[0]?.counters.requests ?? 0;
    vm.start();
    await until(() => requests(vm) >= 20, '20 rng requests served', LIMIT_MS,
      { gone: () => (vm.state === 'exited' ? 'the machine ended' : undefined) });
    await vm.pause();
    const snap = path.join(dir, 'rng');
    await vm.snapshot(snap);
    const before = requests(vm);
    await vm.kill();

    const again = await restoreVm(snap, { paused: true });
    const out = watchConsole(again);
    await again.resume();
    await out.waitFor(/TSVMM-TEST: (PASS|FAIL) rng/, LIMIT_MS);
    assert.match(out.text(), /TSVMM-TEST: PASS rng/);
    const rng = again.counters().devices[0]!.counters;
    assert.equal(rng.failures, 0, JSON.stringify(rng));
    // The rest was asked of the restored device, which started counting at 0.
    assert.ok(before >= 20 && rng.requests! > 0, `${before} before, then ${JSON.stringify(rng)}`);
    await again.kill();
  });

  it('restores a disk under load: requests in flight end before the snapshot, and the guest goes on', async () => {
    // 32 requests in flight at a time, for 3 s of guest time per operation.
    const image = sparseImage(dir, 'bench.img', 16 * 1024 * 1024);
    const vm = await createVm({ kernel, memory: '64M',
      cmdline: 'test=blkbench bench_ops=randread-qd32,randwrite-qd32 bench_ms=3000 bench_region=16M',
      devices: [{ type: 'blk', path: image }] });
    const requests = (v: typeof vm): number => v.counters().devices[0]?.counters.requests ?? 0;
    vm.start();
    await until(() => requests(vm) >= 64, '64 disk requests served', LIMIT_MS,
      { gone: () => (vm.state === 'exited' ? 'the machine ended' : undefined) });
    await vm.pause();
    const snap = path.join(dir, 'blk');
    await vm.snapshot(snap);
    await vm.kill();

    const again = await restoreVm(snap, { paused: true });
    const out = watchConsole(again);
    await again.resume();
    await out.waitFor(/TSVMM-TEST: (PASS|FAIL) blkbench/, LIMIT_MS);
    assert.match(out.text(), /TSVMM-TEST: PASS blkbench/);
    const blk = again.counters().devices[0]!.counters;
    assert.ok(blk.requests! > 0 && blk.errors === 0 && blk.failures === 0, JSON.stringify(blk));
    await again.kill();
  });

  it('restores a keyboard between two key presses: the restored driver takes the second from the restored queue', async () => {
    const vm = await createVm({ kernel, memory: '64M', cmdline: 'test=input input_events=8',
      devices: [{ type: 'input', kind: 'keyboard' }] });
    const out = watchConsole(vm);
    vm.start();
    await out.waitFor('TSVMM-DATA: input ready', LIMIT_MS);
    assert.equal(vm.input.key('a'), 4);
    await out.waitFor(/(TSVMM-DATA: input event [^\n]*\n[^]*){4}/, LIMIT_MS);
    await vm.pause();
    const snap = path.join(dir, 'input');
    await vm.snapshot(snap);
    await vm.kill();

    const again = await restoreVm(snap);
    const restored = watchConsole(again);
    assert.equal(again.input.key('b'), 4);
    await restored.waitFor(/TSVMM-TEST: (PASS|FAIL) input/, LIMIT_MS);
    assert.match(restored.text(), /TSVMM-TEST: PASS input/);
    const KEY_B = 48;
    assert.match(restored.text(), new RegExp(`event type=1 code=${KEY_B} value=1[^]*event type=1 code=${KEY_B} value=0`));
    await again.kill();
  });

  it('restores a balloon holding 16 MiB: the restored guest inflates more on copy-on-write RAM and every page comes back zeroed', async () => {
    const PAGES_PER_MIB = 256;
    const vm = await createVm({ kernel, memory: '64M', cmdline: 'test=balloon',
      devices: [{ type: 'balloon', targetMiB: 16, statsInterval: 1 }] });
    const out = watchConsole(vm);
    vm.start();
    await out.until(() => vm.balloonStats().actualPages === 16 * PAGES_PER_MIB, 'the balloon at 16 MiB', LIMIT_MS);
    await vm.pause();
    const snap = path.join(dir, 'balloon');
    await vm.snapshot(snap);
    await vm.kill();

    const again = await restoreVm(snap);
    const restored = watchConsole(again);
    assert.deepEqual([again.balloonStats().targetPages, again.balloonStats().actualPages],
      [16 * PAGES_PER_MIB, 16 * PAGES_PER_MIB]);
    // 8 MiB more go back through the copy-on-write RAM's own way of discarding; then all 24 come back.
    again.setBalloonTarget(24);
    await restored.until(() => again.balloonStats().actualPages === 24 * PAGES_PER_MIB, 'the balloon at 24 MiB', LIMIT_MS);
    // The statistics buffer the device held at the snapshot goes back at the next interval; the guest answers.
    const reports = (): number => again.counters().devices[0]!.counters.statsReports ?? 0;
    await restored.until(() => reports() >= 1, 'a statistics report from the restored guest', LIMIT_MS);
    again.setBalloonTarget(0);
    await restored.waitFor(/TSVMM-TEST: (PASS|FAIL) balloon/, LIMIT_MS);
    assert.match(restored.text(), /TSVMM-TEST: PASS balloon/);
    const g = /inflated=(\d+) deflated=(\d+) zero_pages=(\d+)/.exec(restored.text());
    assert.ok(g, restored.text().slice(-600));
    assert.deepEqual(g.slice(1).map(Number), [24 * PAGES_PER_MIB, 24 * PAGES_PER_MIB, 24 * PAGES_PER_MIB],
      'inflated, deflated and zero-filled pages');
    const dev = again.counters().devices[0]!.counters;
    assert.deepEqual([dev.failures, dev.errors, dev.discardErrors], [0, 0, 0], JSON.stringify(dev));
    await again.kill();
  });

  it('refuses a snapshot whose state does not match its checksum', async () => {
    const snap = path.join(dir, 'spin');
    const state = path.join(snap, STATE_FILE);
    const bytes = fs.readFileSync(state);
    bytes[bytes.length - 1]! ^= 0xff;
    fs.writeFileSync(state, bytes);
    await assert.rejects(restoreVm(snap), (e: unknown) => e instanceof VmError && e.code === 'ERR_VM_SNAPSHOT' &&
      (e.cause as { code?: string }).code === 'ERR_SNAPSHOT_CHECKSUM' && /i8042/.test(e.message));
  });
});
