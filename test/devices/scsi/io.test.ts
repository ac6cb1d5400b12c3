// READ and WRITE in each CDB size, SYNCHRONIZE CACHE, and every way a transfer can be refused: out of range, too
// long, write-protected, buffers that do not fit the CDB, a file that ends early.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { be16, be32, be64, pattern, senseOf, withScsi } from './harness';

const GOOD = 0;
const CHECK = 2;
const BLOCK = 512;

const read6 = (lba: number, blocks: number): number[] => [0x08, (lba >> 16) & 0x1f, (lba >> 8) & 0xff, lba & 0xff, blocks & 0xff, 0];
const write6 = (lba: number, blocks: number): number[] => [0x0a, ...read6(lba, blocks).slice(1)];
const rw10 = (op: number, lba: number, blocks: number, flags = 0): number[] => [op, flags, ...be32(lba), 0, ...be16(blocks), 0];
const rw16 = (op: number, lba: number, blocks: number, flags = 0): number[] => [op, flags, ...be64(lba), ...be32(blocks), 0, 0];

test('writes then reads patterned data at several LBAs and sizes, in each CDB size', async () => {
  await withScsi([{ bytes: 4 << 20 }], async (s) => {
    const cases: [write: number[], read: number[], lba: number, blocks: number][] = [
      [write6(0, 1), read6(0, 1), 0, 1],
      [write6(100, 0), read6(100, 0), 100, 256], // a length of 0 is 256 blocks in the 6-byte form
      [rw10(0x2a, 3, 7), rw10(0x28, 3, 7), 3, 7],
      [rw10(0x2a, 1000, 128, 0x08), rw10(0x28, 1000, 128), 1000, 128], // FUA
      [rw16(0x8a, 8191, 1), rw16(0x88, 8191, 1), 8191, 1],
      [rw16(0x8a, 4000, 2048), rw16(0x88, 4000, 2048), 4000, 2048],
    ];
    for (const [w, r, lba, blocks] of cases) {
      const data = pattern(blocks * BLOCK, lba);
      const expected = fs.readFileSync(s.files[0]!);
      data.copy(expected, lba * BLOCK);
      const wrote = await s.cmd(w, { out: data });
      assert.deepEqual([wrote.response, wrote.status, wrote.resid], [0, GOOD, 0], `write ${blocks} at ${lba}`);
      assert.ok(fs.readFileSync(s.files[0]!).equals(expected), `the write at ${lba} landed there and nowhere else`);
      const got = await s.cmd(r, { inLen: blocks * BLOCK });
      assert.deepEqual([got.status, got.resid, got.usedLen], [GOOD, 0, 108 + blocks * BLOCK]);
      assert.ok(got.data.equals(data), `read back ${blocks} at ${lba}`);
    }
    const c = s.dev.counters();
    assert.equal(c.writes, cases.length);
    assert.equal(c.reads, cases.length);
    assert.equal(c.writtenBytes, c.readBytes);
  });
});

test('a buffer larger than the transfer leaves a residual; a smaller one is OVERRUN and moves nothing', async () => {
  await withScsi([{}], async (s) => {
    const big = await s.cmd(rw10(0x28, 0, 2), { inLen: 3 * BLOCK });
    assert.deepEqual([big.status, big.resid, big.usedLen], [GOOD, BLOCK, 108 + 2 * BLOCK]);
    assert.deepEqual([big.data[2 * BLOCK - 1], big.data[2 * BLOCK]], [0xab, 0xcc]);

    const small = await s.cmd(rw10(0x28, 0, 2), { inLen: BLOCK });
    assert.deepEqual([small.response, small.resid, small.data[0]], [1, BLOCK, 0xcc]);

    const longOut = await s.cmd(rw10(0x2a, 4, 1), { out: Buffer.alloc(2 * BLOCK, 0x11) });
    assert.deepEqual([longOut.status, longOut.resid], [GOOD, BLOCK]);
    const image = fs.readFileSync(s.files[0]!);
    assert.deepEqual([image[4 * BLOCK], image[5 * BLOCK]], [0x11, 0xab], 'only the transfer was written');

    const shortOut = await s.cmd(rw10(0x2a, 8, 2), { out: Buffer.alloc(BLOCK, 0x22) });
    assert.deepEqual([shortOut.response, shortOut.resid], [1, BLOCK]);
    assert.equal(fs.readFileSync(s.files[0]!)[8 * BLOCK], 0xab);
    const wrongWay = await s.cmd(rw10(0x28, 0, 1), { out: Buffer.alloc(BLOCK) });
    assert.equal(wrongWay.response, 1, 'a read with a data-out buffer');
  });
});

test('an LBA range past the end is LBA OUT OF RANGE; a transfer past max_sectors is INVALID FIELD IN CDB', async () => {
  await withScsi([{}], async (s) => {
    for (const cdb of [rw10(0x28, 2047, 2), rw10(0x28, 2048, 1), rw16(0x88, 2 ** 52, 1), rw16(0x8a, 2040, 9),
      read6(2047, 2), [0x88, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0]]) {
      const r = await s.cmd(cdb, cdb[0] === 0x8a ? { out: Buffer.alloc(9 * BLOCK) } : { inLen: 2 * BLOCK });
      assert.equal(r.status, CHECK);
      assert.deepEqual(senseOf(r), [5, 0x21, 0], `CDB ${cdb.join(',')}`);
    }
    const atEnd = await s.cmd(rw10(0x28, 2048, 0));
    assert.equal(atEnd.status, GOOD, 'no blocks at the end is not out of range');
    const tooLong = await s.cmd(rw16(0x88, 0, 8193), { inLen: 8193 * BLOCK });
    assert.deepEqual(senseOf(tooLong), [5, 0x24, 0]);
    assert.equal(tooLong.sense.readUInt16BE(16), 10, 'the field pointer names the transfer length');
    const protect = await s.cmd(rw10(0x28, 0, 1, 0x20), { inLen: BLOCK });
    assert.deepEqual(senseOf(protect), [5, 0x24, 0], 'RDPROTECT');
  });
});

test('a read-only disk answers writes, UNMAP and WRITE SAME with DATA PROTECT, WRITE PROTECTED', async () => {
  await withScsi([{ readonly: true }], async (s) => {
    const unmapList = Buffer.alloc(24);
    unmapList.writeUInt16BE(22, 0);
    unmapList.writeUInt16BE(16, 2);
    unmapList.writeUInt32BE(8, 16);
    for (const [cdb, out] of [[rw10(0x2a, 0, 1), Buffer.alloc(BLOCK)], [write6(0, 1), Buffer.alloc(BLOCK)],
      [rw16(0x8a, 0, 1), Buffer.alloc(BLOCK)], [[0x42, 0, 0, 0, 0, 0, 0, ...be16(24), 0], unmapList],
      [[0x93, 0, ...be64(0), ...be32(8), 0, 0], Buffer.alloc(BLOCK)]] as const) {
      const r = await s.cmd([...cdb], { out });
      assert.equal(r.status, CHECK);
      assert.deepEqual(senseOf(r), [7, 0x27, 0], `opcode 0x${cdb[0].toString(16)}`);
      assert.equal(r.resid, out.length);
    }
    assert.ok(fs.readFileSync(s.files[0]!).every((b) => b === 0xab));
    const sync = await s.cmd([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(sync.status, GOOD, 'a sync of a read-only disk has nothing to do');
  });
});

test('a read the file cannot fill (the image shrank) is MEDIUM ERROR, never GOOD', async () => {
  await withScsi([{}], async (s) => {
    fs.truncateSync(s.files[0]!, 100 * BLOCK + 100);
    const r = await s.cmd(rw10(0x28, 99, 4), { inLen: 4 * BLOCK });
    assert.equal(r.status, CHECK);
    assert.deepEqual(senseOf(r), [3, 0x11, 0]);
    assert.equal(r.resid, 4 * BLOCK, 'no data counts as transferred');
    assert.equal(s.dev.counters().ioErrors, 1);
    const before = await s.cmd(rw10(0x28, 98, 2), { inLen: 2 * BLOCK });
    assert.equal(before.status, GOOD, 'the blocks still there read');
  });
});

test('SYNCHRONIZE CACHE (10) and (16) sync the file; their range is checked', async () => {
  await withScsi([{}], async (s) => {
    const ten = await s.cmd([0x35, 0, ...be32(0), 0, ...be16(0), 0]);
    const sixteen = await s.cmd([0x91, 0, ...be64(100), ...be32(10), 0, 0]);
    assert.deepEqual([ten.status, sixteen.status], [GOOD, GOOD]);
    assert.equal(s.dev.counters().syncs, 2);
    const past = await s.cmd([0x91, 0, ...be64(2040), ...be32(10), 0, 0]);
    assert.deepEqual(senseOf(past), [5, 0x21, 0]);
  });
});
