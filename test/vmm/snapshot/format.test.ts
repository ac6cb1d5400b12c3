import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { validateConfig, type MachineConfig } from '../../../src/vmm/config';
import {
  loadMemory, MANIFEST_FILE, MEMORY_FILE, readSnapshot, SNAPSHOT_VERSION, SnapshotError, STATE_FILE, writeSnapshot,
  type Extent, type MemoryImage, type SnapshotErrorCode,
} from '../../../src/vmm/snapshot/format';

const MiB = 1024 * 1024;
const PAGE = 4096;

/** 32 MiB of "guest RAM" with data in two runs: the first two pages and one page at 20 MiB. */
function fakeRam(): { ram: Uint8Array; image: MemoryImage } {
  const ram = new Uint8Array(32 * MiB);
  ram.fill(0xa5, 0, 2 * PAGE);
  ram.fill(0x3c, 20 * MiB, 20 * MiB + PAGE);
  const extents: Extent[] = [[0, 2 * PAGE], [20 * MiB, PAGE]];
  return { ram, image: { bytes: ram.length, extents, view: (at, length) => ram.subarray(at, at + length) } };
}

const sections = (): Map<string, Uint8Array> => new Map<string, Uint8Array>([
  ['vm.clock', Buffer.alloc(48, 1)],
  ['vcpu0.regs', Buffer.alloc(144, 2)],
  ['i8042', Buffer.alloc(160, 3)],
]);

function refused(code: SnapshotErrorCode, pattern: RegExp): (e: unknown) => boolean {
  return (e) => e instanceof SnapshotError && e.code === code && pattern.test(e.message);
}

describe('the snapshot folder', () => {
  let root: string;
  let config: MachineConfig;
  let dir: string;
  let n = 0;

  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-snapshot-format-'));
    const kernel = path.join(root, 'kernel.elf');
    fs.writeFileSync(kernel, 'not booted here');
    config = validateConfig({ kernel, memory: '32M', cmdline: 'test=spin' });
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));
  beforeEach(async () => {
    dir = path.join(root, `snap${n++}`);
    await writeSnapshot(dir, config, { capture: () => ({ sections: sections(), memory: fakeRam().image }) });
  });

  const manifest = (): Record<string, unknown> =>
    JSON.parse(fs.readFileSync(path.join(dir, MANIFEST_FILE), 'utf8')) as Record<string, unknown>;
  const editManifest = (edit: (m: Record<string, unknown>) => void): void => {
    const m = manifest();
    edit(m);
    fs.writeFileSync(path.join(dir, MANIFEST_FILE), JSON.stringify(m));
  };

  it('reads back what it wrote: config, sections and memory, with memory.bin sparse', () => {
    const image = readSnapshot(dir);
    assert.equal(image.config.memory, 32 * MiB);
    assert.equal(image.config.cmdline, 'test=spin');
    assert.deepEqual([...image.sections.keys()], ['vm.clock', 'vcpu0.regs', 'i8042']);
    assert.deepEqual(image.sections.get('vcpu0.regs'), Buffer.alloc(144, 2));
    const restored = new Uint8Array(32 * MiB);
    loadMemory(image, (at, length) => restored.subarray(at, at + length));
    assert.deepEqual(Buffer.from(restored), Buffer.from(fakeRam().ram));
    const st = fs.statSync(path.join(dir, MEMORY_FILE));
    assert.equal(st.size, 32 * MiB);
    assert.ok(st.blocks * 512 < 4 * MiB, `memory.bin takes ${st.blocks * 512} bytes`);
  });

  it('will not write over a snapshot', async () => {
    await assert.rejects(writeSnapshot(dir, config, { capture: () => ({ sections: sections(), memory: fakeRam().image }) }),
      refused('ERR_SNAPSHOT_EXISTS', /already/));
  });

  it('refuses a folder that is no snapshot, and a manifest that is not JSON', () => {
    assert.throws(() => readSnapshot(root), refused('ERR_SNAPSHOT_FORMAT', /is not a snapshot/));
    fs.writeFileSync(path.join(dir, MANIFEST_FILE), '{ nope');
    assert.throws(() => readSnapshot(dir), refused('ERR_SNAPSHOT_FORMAT', /not JSON/));
  });

  it('refuses another format version, naming both', () => {
    editManifest((m) => { m.version = SNAPSHOT_VERSION + 1; });
    assert.throws(() => readSnapshot(dir), refused('ERR_SNAPSHOT_VERSION', new RegExp(`version ${SNAPSHOT_VERSION + 1}.*reads version ${SNAPSHOT_VERSION}`)));
  });

  it('refuses a flipped byte in state.bin, naming the section', () => {
    const file = path.join(dir, STATE_FILE);
    const bytes = fs.readFileSync(file);
    bytes[48 + 10]! ^= 1;
    fs.writeFileSync(file, bytes);
    assert.throws(() => readSnapshot(dir), refused('ERR_SNAPSHOT_CHECKSUM', /section vcpu0\.regs/));
  });

  it('refuses a flipped byte in memory.bin once it is loaded', () => {
    const fd = fs.openSync(path.join(dir, MEMORY_FILE), 'r+');
    fs.writeSync(fd, Buffer.of(0), 0, 1, 20 * MiB + 7);
    fs.closeSync(fd);
    const image = readSnapshot(dir);
    const ram = new Uint8Array(32 * MiB);
    assert.throws(() => loadMemory(image, (at, length) => ram.subarray(at, at + length)),
      refused('ERR_SNAPSHOT_CHECKSUM', /memory\.bin/));
  });

  it('refuses an extent moved in the manifest', () => {
    editManifest((m) => { (m.memory as { extents: number[][] }).extents[1] = [21 * MiB, PAGE]; });
    const image = readSnapshot(dir);
    const ram = new Uint8Array(32 * MiB);
    assert.throws(() => loadMemory(image, (at, length) => ram.subarray(at, at + length)),
      refused('ERR_SNAPSHOT_CHECKSUM', /memory\.bin/));
  });

  it('refuses truncated files', () => {
    fs.truncateSync(path.join(dir, STATE_FILE), 100);
    assert.throws(() => readSnapshot(dir), refused('ERR_SNAPSHOT_TRUNCATED', /state\.bin is 100 bytes, expected 352/));
    fs.rmSync(dir, { recursive: true });
  });

  it('refuses a memory.bin cut short', () => {
    fs.truncateSync(path.join(dir, MEMORY_FILE), 16 * MiB);
    assert.throws(() => readSnapshot(dir), refused('ERR_SNAPSHOT_TRUNCATED', /memory\.bin is 16777216 bytes/));
  });

  it('refuses a config whose memory is not what memory.bin holds', () => {
    editManifest((m) => { (m.config as { memory: string }).memory = '64M'; });
    assert.throws(() => readSnapshot(dir), refused('ERR_SNAPSHOT_CONFIG', /config\.memory is 67108864 bytes but memory\.bin holds 33554432/));
  });

  it('refuses a config that does not validate, naming the field', () => {
    editManifest((m) => { (m.config as { vcpus: number }).vcpus = 0; });
    assert.throws(() => readSnapshot(dir), refused('ERR_SNAPSHOT_CONFIG', /config\.vcpus/));
  });

  it('refuses sections that overlap or do not add up', () => {
    editManifest((m) => { (m.state as { sections: { offset: number }[] }).sections[1]!.offset = 40; });
    assert.throws(() => readSnapshot(dir), refused('ERR_SNAPSHOT_FORMAT', /sections\[1\] \(vcpu0\.regs\) overlaps/));
  });

  it('refuses extents that are not page aligned or lie outside RAM', () => {
    editManifest((m) => { (m.memory as { extents: number[][] }).extents[1] = [32 * MiB, PAGE]; });
    assert.throws(() => readSnapshot(dir), refused('ERR_SNAPSHOT_FORMAT', /memory\.extents\[1\]/));
  });

  it('lets the reader change the config before it is validated (a new socket), and validates the result', () => {
    const image = readSnapshot(dir, (c) => ({ ...(c as object), cmdline: 'test=spin restored' }));
    assert.equal(image.config.cmdline, 'test=spin restored');
    assert.throws(() => readSnapshot(dir, (c) => ({ ...(c as object), vcpus: 0 })),
      refused('ERR_SNAPSHOT_CONFIG', /config\.vcpus/));
  });
});
