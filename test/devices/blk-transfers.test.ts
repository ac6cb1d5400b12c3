// virtio-blk moves every byte a request asks for or answers IOERR: never OK for a transfer that stopped short,
// whether the file system filled up, a file-size limit was reached, the file ended, or the chain had more buffers
// than one preadv / pwritev takes.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { F_WRITE } from '../virtio-mmio/mock-driver';
import { BIG, DATA, HDR, STATUS, T, manyBuffers, pattern, setup } from './blk-harness';

const S = { OK: 0, IOERR: 1 } as const;
const KiB = 1024;
const MiB = 1024 * KiB;

/** A fresh tmpfs of `size` under the temp dir, or undefined where this process may not mount one. */
function smallTmpfs(size: string): string | undefined {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-blk-full-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
  if (r.status === 0) return dir;
  fs.rmdirSync(dir);
  return undefined;
}

function unmount(dir: string): void {
  spawnSync('umount', [dir], { stdio: 'ignore' });
  fs.rmSync(dir, { recursive: true, force: true });
}

const canMount = ((): boolean => {
  const dir = smallTmpfs('64k');
  if (dir !== undefined) unmount(dir);
  return dir !== undefined;
})();

test('a write that fills the file system partway is IOERR, not OK (ENOSPC)', { skip: !canMount && 'cannot mount a tmpfs' }, async () => {
  const dir = smallTmpfs('1m')!;
  const s = setup({}, 0n, { dir, disk: 4 * MiB, sparse: true, mem: BIG + 2 * MiB });
  try {
    s.d.mem.fill(BIG, 2 * MiB, 0x5a);
    s.header(T.OUT, 0);
    const status = await s.submit([
      { addr: HDR, len: 16, flags: 0 }, { addr: BIG, len: 2 * MiB, flags: 0 }, { addr: STATUS, len: 1, flags: F_WRITE },
    ]);
    assert.ok(fs.statSync(s.file).blocks * 512 < 2 * MiB, 'the write did not fit');
    assert.equal(status, S.IOERR);
  } finally {
    s.cleanup();
    unmount(dir);
  }
});

const hasPrlimit = spawnSync('prlimit', ['--version'], { stdio: 'ignore' }).status === 0;

test('a write cut short by the file-size limit is IOERR, not OK (RLIMIT_FSIZE)', { skip: !hasPrlimit && 'no prlimit' }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-blk-fsize-'));
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, '');
  fs.truncateSync(file, 4 * MiB);
  try {
    const child = path.join(__dirname, 'blk-limited-write.js');
    const out = await new Promise<string>((resolve, reject) => {
      execFile('prlimit', [`--fsize=${256 * KiB}`, process.execPath, child, file, String(384 * KiB)],
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    });
    const landed = fs.readFileSync(file).subarray(0, 384 * KiB).filter((b) => b === 0x5a).length;
    assert.equal(landed, 256 * KiB, 'the limit let only part of the write land');
    assert.deepEqual(JSON.parse(out), { status: S.IOERR });
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

/** Reads `count` buffers of `seg` bytes from sector 0 in one chain; checks every byte against the image. */
async function readMany(count: number, seg: number): Promise<void> {
  const bytes = count * seg;
  const s = setup({}, 0n, { disk: 2 * MiB, mem: BIG + 2 * MiB });
  try {
    const image = pattern(2 * MiB, 3);
    fs.writeFileSync(s.file, image);
    s.header(T.IN, 0);
    assert.equal(await s.submit(manyBuffers(BIG, count, seg, true)), S.OK);
    assert.ok(Buffer.from(s.d.mem.read(BIG, bytes)).equals(image.subarray(0, bytes)), 'every buffer holds its part');
    assert.equal(s.dev.counters().readBytes, bytes);
  } finally { s.cleanup(); }
}

test('a read over more buffers than IOV_MAX fills all of them (thread pool, over 1 MiB)', async () => {
  await readMany(1037, KiB);
});

test('a read over more buffers than IOV_MAX fills all of them (page cache, under 1 MiB)', async () => {
  await readMany(1037, 512);
});

test('a write over more buffers than IOV_MAX lands whole', async () => {
  const count = 1037;
  const s = setup({}, 0n, { disk: 2 * MiB, mem: BIG + 2 * MiB });
  try {
    const data = pattern(count * KiB, 9);
    s.d.mem.write(BIG, data);
    s.header(T.OUT, 0);
    assert.equal(await s.submit(manyBuffers(BIG, count, KiB, false)), S.OK);
    assert.ok(fs.readFileSync(s.file).subarray(0, data.length).equals(data));
  } finally { s.cleanup(); }
});

test('a read the file no longer holds (shrunk under the disk) is IOERR, not OK', async () => {
  const s = setup();
  try {
    fs.truncateSync(s.file, 32 * KiB + 512);
    assert.equal(await s.request(T.IN, 64, 4 * KiB), S.IOERR, 'only the first of 8 sectors is there');
    fs.truncateSync(s.file, 32 * KiB);
    assert.equal(await s.request(T.IN, 64, 4 * KiB), S.IOERR, 'none of them is there');
    assert.equal(await s.request(T.IN, 0, 4 * KiB), S.OK, 'what is still there reads as before');
  } finally { s.cleanup(); }
});

test('a status descriptor of length 0 costs the device a reset; nothing is completed', () => {
  const s = setup();
  try {
    s.header(T.IN, 0);
    s.d.mem.fill(DATA, 512, 0xee);
    s.d.addChain([
      { addr: HDR, len: 16, flags: 0 }, { addr: DATA, len: 512, flags: F_WRITE }, { addr: STATUS, len: 0, flags: F_WRITE },
    ]);
    s.dev.onQueueNotify(0);
    assert.equal(s.failures.length, 1);
    assert.equal(s.d.usedIdx(), 0, 'no used entry');
    assert.equal(s.d.mem.readU8(DATA + 511), 0xee, 'no byte of the data buffer was taken for a status');
  } finally { s.cleanup(); }
});
