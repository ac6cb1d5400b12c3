// Clones: ten machines restored in this process from one snapshot of the tiny kernel's `spin` guest, which filled
// 32 MiB of its RAM before the snapshot and reads all of it again every tick. Each clone goes on counting with the
// same sum, and guest RAM mapped copy-on-write from memory.bin makes them share those pages: the process's
// proportional set size (/proc/self/smaps_rollup) grows by far less than ten copies, and the mappings of
// memory.bin hold about one. A clone snapshotted again is restored again with the same bytes. A memory.bin
// changed after a restore is checked again, and refused.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createVm } from '../../src/api/create';
import { VmError } from '../../src/api/errors';
import { restoreVm } from '../../src/api/restore';
import type { Vm } from '../../src/api/vm';
import { MANIFEST_FILE, MEMORY_FILE, type SnapshotManifest } from '../../src/vmm/snapshot/format';
import { kvmUnavailable } from '../helpers/kvm';
import { testKernel } from '../helpers/tiny';
import { watchConsole } from '../helpers/vm-console';
import type { OutputWatch } from '../helpers/wait';

const skip = kvmUnavailable();
/** A safety net for each wait, which ends on what it waits for; under emulated KVM each exit costs up to 0.1 ms. */
const LIMIT_MS = 180_000;
const MiB = 1024 * 1024;
const TOUCHED = 32 * MiB;
const CLONES = 10;

/** A field of /proc/self/smaps_rollup, in bytes. */
function rollup(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/self/smaps_rollup', 'latin1'));
  assert.ok(m, `no ${field} in smaps_rollup`);
  return Number(m[1]) * 1024;
}

/** Pss and Private_Dirty of every mapping of `file` (the clones' guest RAM), summed, in bytes. */
function fileMappings(file: string): { count: number; pss: number; privateDirty: number } {
  const out = { count: 0, pss: 0, privateDirty: 0 };
  let inFile = false;
  for (const line of fs.readFileSync('/proc/self/smaps', 'latin1').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) {
      inFile = line.endsWith(` ${file}`) || line.endsWith(` ${file} (deleted)`);
      if (inFile) out.count++;
    } else if (inFile) {
      const m = /^(Pss|Private_Dirty):\s+(\d+) kB/.exec(line);
      if (m) out[m[1] === 'Pss' ? 'pss' : 'privateDirty'] += Number(m[2]) * 1024;
    }
  }
  return out;
}

const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

describe('clones of one snapshot in one process', { skip, timeout: 4 * LIMIT_MS }, () => {
  let dir: string;
  let snap: string;
  let sum: string;
  const clones: Vm[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-clones-'));
    const vm = await createVm({ kernel: await testKernel(), memory: '128M',
      cmdline: `test=spin spin_touch=${TOUCHED} spin_ms=200` });
    const out = watchConsole(vm);
    vm.start();
    await out.waitFor(/tick=1 loops=\d+ sum=/, LIMIT_MS);
    sum = /touched=\d+ sum=([0-9a-f]+)/.exec(out.text())![1]!;
    await vm.pause();
    snap = path.join(dir, 'touched');
    await vm.snapshot(snap);
    await vm.kill();
  });
  after(async () => {
    await Promise.all(clones.map((c) => c.kill()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`runs ${CLONES} clones that read all ${TOUCHED / MiB} MiB and share it`, async (t) => {
    const pssBefore = rollup('Pss');
    const outs: OutputWatch[] = [];
    for (let i = 0; i < CLONES; i++) {
      const vm = await restoreVm(snap);
      clones.push(vm);
      outs.push(watchConsole(vm));
    }
    // A tick line printed after the restore ends a full read of the touched RAM, with the sum it found.
    const after = (o: OutputWatch): RegExpExecArray | null => /tick=\d+ loops=\d+ sum=([0-9a-f]+)\n/.exec(o.text());
    for (const [i, o] of outs.entries()) {
      await o.waitFor(/tick=\d+ loops=\d+ sum=[0-9a-f]+\n/, LIMIT_MS);
      assert.equal(after(o)![1], sum, `clone ${i} read other bytes:\n${o.text().slice(-400)}`);
    }
    const grown = rollup('Pss') - pssBefore;
    const ram = fileMappings(path.join(snap, MEMORY_FILE));
    t.diagnostic(`${CLONES} clones: process Pss grew ${mib(grown)}; memory.bin mappings ${ram.count}, `
      + `Pss ${mib(ram.pss)}, Private_Dirty ${mib(ram.privateDirty)}`);
    assert.equal(ram.count, CLONES, 'one mapping of memory.bin per clone (its RAM below 4 GiB)');
    // Ten private copies would be 320 MiB in those mappings; shared, the pages count once between them.
    assert.ok(ram.pss >= TOUCHED * 0.9 && ram.pss < TOUCHED * 2, `memory.bin mappings' Pss ${mib(ram.pss)}`);
    assert.ok(ram.privateDirty < CLONES * 4 * MiB, `pages the clones copied: ${mib(ram.privateDirty)}`);
    assert.ok(grown < (CLONES * TOUCHED) / 2, `process Pss grew ${mib(grown)} for ${CLONES} clones`);
    // Before the next test changes memory.bin, which pages the clones never wrote would show them.
    await Promise.all(clones.splice(0).map((c) => c.kill()));
  });

  it('snapshots a clone again: its copy-on-write RAM is read whole, and the second restore counts on', async () => {
    const clone = await restoreVm(snap);
    clones.push(clone);
    const out = watchConsole(clone);
    await out.waitFor(/tick=\d+ loops=\d+ sum=[0-9a-f]+\n/, LIMIT_MS);
    await clone.pause();
    const ticksSoFar = [...out.text().matchAll(/tick=(\d+) loops=/g)].map((m) => Number(m[1]));
    const again = path.join(dir, 'again');
    await clone.snapshot(again);
    await clone.kill();
    // The pages the guest filled are in the new file too, not only in the first one.
    const manifest = JSON.parse(fs.readFileSync(path.join(again, MANIFEST_FILE), 'utf8')) as SnapshotManifest;
    const dataBytes = manifest.memory.extents.reduce((n, [, len]) => n + len, 0);
    assert.ok(dataBytes >= TOUCHED, `the second snapshot holds ${mib(dataBytes)} of data`);

    const second = await restoreVm(again);
    clones.push(second);
    const out2 = watchConsole(second);
    await out2.waitFor(/tick=(\d+) loops=\d+ sum=([0-9a-f]+)\n/, LIMIT_MS);
    const line = /tick=(\d+) loops=\d+ sum=([0-9a-f]+)\n/.exec(out2.text())!;
    assert.equal(line[2], sum, 'the second restore read the same bytes');
    assert.ok(Number(line[1]) > Math.max(...ticksSoFar), `tick ${line[1]} after ${Math.max(...ticksSoFar)}`);
    await Promise.all(clones.splice(0).map((c) => c.kill()));
  });

  it('checks a memory.bin changed since it was last read again, and refuses it', async () => {
    // The first byte of the first extent that holds data, which the manifest's hash covers. Changed in place, so
    // the file's identity (device and inode) stays and only its times say it changed.
    const manifest = JSON.parse(fs.readFileSync(path.join(snap, MANIFEST_FILE), 'utf8')) as SnapshotManifest;
    const at = manifest.memory.extents[0]![0];
    const fd = fs.openSync(path.join(snap, MEMORY_FILE), 'r+');
    try {
      const byte = Buffer.alloc(1);
      fs.readSync(fd, byte, 0, 1, at);
      byte[0]! ^= 0xff;
      fs.writeSync(fd, byte, 0, 1, at);
    } finally {
      fs.closeSync(fd);
    }
    await assert.rejects(restoreVm(snap), (e: unknown) => e instanceof VmError && e.code === 'ERR_VM_SNAPSHOT'
      && (e.cause as { code?: string }).code === 'ERR_SNAPSHOT_CHECKSUM');
  });
});
