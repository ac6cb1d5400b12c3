// Native memory goes when its owner closes it, not when the GC gets round to it, and nothing JavaScript can still
// reach points into memory that is gone: guest RAM mappings and the vCPU object (its kvm_run mapping and the typed
// arrays behind its fast-MMIO table). A memfd stands in for the vCPU fd, which needs no /dev/kvm: the object maps
// it the way it maps kvm_run, and KVM_RUN on it fails like any ioctl the file does not know.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { GuestRam } from '../../src/base/guest-ram';
import { native } from '../../src/base/native';
import { openVcpu, setFastMmio } from '../../src/vmm/vcpu-native';

const MiB = 1 << 20;
const openFds = (): number => fs.readdirSync('/proc/self/fd').length;

function rssShmem(): number {
  const line = fs.readFileSync('/proc/self/status', 'latin1').split('\n').find((l) => l.startsWith('RssShmem:'));
  return Number(/(\d+)/.exec(line!)![1]) * 1024;
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Full collections with turns of the event loop between: WeakRefs clear and buffer finalizers run there. */
async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
}

describe('guest RAM lifetime', () => {
  it('close() gives the pages back at once, while the object is still held', () => {
    const start = rssShmem();
    const ram = GuestRam.create([{ gpa: 0, size: 32 * MiB }], 'lifetime-test');
    ram.memory.fill(0, 32 * MiB, 1);
    assert.ok(rssShmem() - start >= 30 * MiB, 'the touched RAM is resident');
    ram.close();
    assert.ok(rssShmem() - start < 2 * MiB, `resident after close: ${(rssShmem() - start) / MiB} MiB`);
    assert.equal(ram.memory.isClosed, true);
  });

  it('after close every access is a TypeError and views made earlier read as empty', () => {
    const fds = openFds();
    const ram = GuestRam.create([{ gpa: 0, size: MiB }, { gpa: 2 * MiB, size: MiB }], 'lifetime-test');
    const view = ram.memory.bytes(0, 16);
    const buffer = ram.memory.regions[0]!.buffer;
    view.fill(7);
    ram.close();
    ram.close();
    assert.equal(openFds(), fds, 'the memfd is closed');
    assert.equal(view.length, 0);
    assert.equal(view[0], undefined);
    assert.equal(buffer.byteLength, 0);
    assert.throws(() => new Uint8Array(buffer), TypeError);
    assert.throws(() => ram.memory.bytes(0, 16), TypeError);
    assert.throws(() => ram.memory.tryBytes(2 * MiB, 1), TypeError);
    assert.throws(() => ram.memory.readU32(0), TypeError);
    assert.throws(() => ram.populate(), TypeError);
    assert.throws(() => ram.discard(0, 4096), TypeError);
    // The addon refuses a detached buffer: its address may belong to a newer mapping by now.
    assert.throws(() => native().madvise(buffer, 0, 0, native().constants.MADV_DONTNEED), TypeError);
  });
});

describe('vCPU object lifetime', () => {
  it('holds the arrays its fast-MMIO table points into until close()', async () => {
    const n = native();
    const fd = n.memfdCreate('lifetime-kvm-run', 4096);
    const vcpu = openVcpu(fd, 4096);
    let words: WeakRef<Int32Array> | undefined;
    let counters: WeakRef<Float64Array> | undefined;
    (() => {
      const w = new Int32Array(new SharedArrayBuffer(64));
      const c = new Float64Array(new SharedArrayBuffer(64));
      setFastMmio(vcpu, [{ gpa: 0xd0000060, kind: n.FAST_MMIO.READ_WORD, words: w, index: 1 }], c, 2);
      words = new WeakRef(w);
      counters = new WeakRef(c);
    })();
    await collect();
    assert.ok(words.deref() !== undefined && counters.deref() !== undefined, 'the table keeps its arrays');
    vcpu.close();
    await collect();
    assert.equal(words.deref(), undefined, 'a closed vCPU lets them go');
    assert.equal(counters.deref(), undefined);
    n.close(fd);
  });

  it('run() errors carry errno and syscall; a closed vCPU is a TypeError and kick() a no-op', () => {
    const n = native();
    const fd = n.memfdCreate('lifetime-kvm-run', 4096);
    const vcpu = openVcpu(fd, 4096);
    const run = new Uint8Array(vcpu.runBuffer!);
    assert.throws(() => vcpu.run(), { code: 'ENOTTY', syscall: 'KVM_RUN', errno: -25 });
    n.kick(fd);
    assert.equal(run[1], 1, 'kick sets immediate_exit');
    vcpu.close();
    vcpu.close();
    assert.equal(vcpu.runBuffer, undefined);
    assert.equal(run.length, 0);
    n.kick(fd);
    assert.throws(() => vcpu.run(), TypeError);
    assert.throws(() => vcpu.setFastMmio([], new Float64Array(new SharedArrayBuffer(8)), 0), TypeError);
    n.close(fd);
  });

  it('takes only SharedArrayBuffer views into its table, with indexes inside them', () => {
    const n = native();
    const fd = n.memfdCreate('lifetime-kvm-run', 4096);
    const vcpu = openVcpu(fd, 4096);
    const shared = new Int32Array(new SharedArrayBuffer(16));
    const counters = new Float64Array(new SharedArrayBuffer(16));
    const entry = { gpa: 0x1000, kind: n.FAST_MMIO.AND_NOT_WORD, words: shared, index: 0 };
    assert.throws(() => setFastMmio(vcpu, [{ ...entry, words: new Int32Array(4) }], counters, 0), TypeError);
    assert.throws(() => setFastMmio(vcpu, [entry], new Float64Array(2), 0), TypeError);
    assert.throws(() => setFastMmio(vcpu, [{ ...entry, index: 4 }], counters, 0), RangeError);
    assert.throws(() => setFastMmio(vcpu, [entry], counters, 2), RangeError);
    assert.throws(() => setFastMmio(vcpu, [{ ...entry, kind: 9 }], counters, 0), RangeError);
    assert.throws(() => setFastMmio(vcpu, [{ ...entry, gpa: -1 }], counters, 0), RangeError);
    setFastMmio(vcpu, [entry], counters, 1);
    vcpu.close();
    n.close(fd);
  });
});

describe('200 cycles of guest RAM and vCPU objects in one process', () => {
  it('gives back every fd and the resident memory, closed or dropped, with gc() between', () => {
    const script = path.join(__dirname, '..', 'helpers', 'lifetime-cycles.js');
    const r = spawnSync(process.execPath, ['--expose-gc', script, 'memory', '200'], { encoding: 'utf8' });
    assert.equal(r.signal, null, `the process died by ${r.signal}: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { cycles: number; start: { fds: number; rss: number };
      end: { fds: number; rss: number } };
    assert.equal(out.cycles, 200);
    assert.equal(out.end.fds, out.start.fds);
    // Each cycle touches 2 MiB of guest RAM: a leak of it would be 400 MiB.
    assert.ok(out.end.rss - out.start.rss < 24 * MiB, `RSS grew by ${(out.end.rss - out.start.rss) / MiB} MiB`);
  });
});
