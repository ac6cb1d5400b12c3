// UNMAP and WRITE SAME: holes punched in the image (seen in its allocated blocks), patterns written, and the
// parameter list checked whole before anything is touched.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test, type TestContext } from 'node:test';
import { be16, be32, be64, pattern, senseOf, withScsi, type Scsi } from './harness';

const GOOD = 0;
const BLOCK = 512;

/** An UNMAP parameter list of [lba, blocks] descriptors. */
function unmapList(ranges: [number, number][]): Buffer {
  const b = Buffer.alloc(8 + 16 * ranges.length);
  b.writeUInt16BE(b.length - 2, 0);
  b.writeUInt16BE(16 * ranges.length, 2);
  ranges.forEach(([lba, blocks], i) => {
    b.writeBigUInt64BE(BigInt(lba), 8 + 16 * i);
    b.writeUInt32BE(blocks, 16 + 16 * i);
  });
  return b;
}

const unmap = (s: Scsi, list: Buffer, length = list.length, anchor = 0) =>
  s.cmd([0x42, anchor, 0, 0, 0, 0, 0, ...be16(length), 0], { out: list });
const writeSame16 = (lba: number, blocks: number, flags = 0): number[] => [0x93, flags, ...be64(lba), ...be32(blocks), 0, 0];
const allocated = (file: string): number => fs.statSync(file).blocks;

function needsHoles(t: TestContext, s: Scsi): boolean {
  if (s.dev.disks[0]!.canUnmap) return true;
  t.skip('the temporary directory\'s file system does not punch holes');
  return false;
}

test('UNMAP punches holes that read back as zeros and leaves the blocks around them', async (t) => {
  await withScsi([{}], async (s) => {
    if (!needsHoles(t, s)) return;
    const file = s.files[0]!;
    const before = allocated(file);
    const r = await unmap(s, unmapList([[256, 512], [1024, 8], [2000, 0]]));
    assert.deepEqual([r.status, r.resid], [GOOD, 0]);
    assert.ok(allocated(file) <= before - 512, `${allocated(file)} blocks allocated, ${before} before`);
    const image = fs.readFileSync(file);
    assert.equal(image.length, 1 << 20, 'the size stays');
    assert.ok(image.subarray(256 * BLOCK, 768 * BLOCK).every((b) => b === 0));
    assert.ok(image.subarray(1024 * BLOCK, 1032 * BLOCK).every((b) => b === 0));
    assert.deepEqual([image[256 * BLOCK - 1], image[768 * BLOCK], image[1032 * BLOCK]], [0xab, 0xab, 0xab]);
    assert.deepEqual([s.dev.counters().unmaps, s.dev.counters().unmappedBlocks], [1, 520]);
    const empty = await unmap(s, Buffer.alloc(0), 0);
    assert.equal(empty.status, GOOD, 'a parameter list length of 0 unmaps nothing');
  });
});

test('a bad UNMAP parameter list is refused whole: nothing is punched', async (t) => {
  await withScsi([{}], async (s) => {
    if (!needsHoles(t, s)) return;
    const file = s.files[0]!;
    const cases: [Buffer, number, number, [number, number, number] | 'overrun'][] = [
      [unmapList([[0, 8], [2047, 2]]), 40, 0, [5, 0x21, 0]], // the second range runs past the end
      [unmapList(Array.from({ length: 17 }, (_, i): [number, number] => [i * 8, 8])), 280, 0, [5, 0x26, 0]],
      [Buffer.alloc(4), 4, 0, [5, 0x1a, 0]], // shorter than the list's header
      [unmapList([[0, 8]]), 24, 1, [5, 0x24, 0]], // ANCHOR
      [unmapList([[0, 8]]), 40, 0, 'overrun'], // a list longer than the data-out buffer
    ];
    for (const [list, length, anchor, want] of cases) {
      const r = await unmap(s, list, length, anchor);
      if (want === 'overrun') assert.equal(r.response, 1);
      else assert.deepEqual(senseOf(r), want, `list of ${list.length} bytes, length ${length}`);
    }
    assert.ok(fs.readFileSync(file).every((b) => b === 0xab), 'no hole anywhere');
    // The descriptor count comes from the list but stops at its length: one cut short is not there.
    const cut = unmapList([[0, 8], [8, 8]]);
    const r = await unmap(s, cut, 8 + 16 + 8);
    assert.equal(r.status, GOOD);
    const image = fs.readFileSync(file);
    assert.deepEqual([image[0], image[8 * BLOCK]], [0, 0xab]);
  });
});

test('an UNMAP naming more blocks in all than the block limits page allows is refused', async (t) => {
  await withScsi([{ bytes: 3 * 2 ** 30, sparse: true }], async (s) => {
    if (!needsHoles(t, s)) return;
    const r = await unmap(s, unmapList([[0, 0x3fffff], [0x400000, 1]]));
    assert.deepEqual(senseOf(r), [5, 0x26, 0]);
    assert.equal(r.sense.readUInt16BE(16), 8 + 16 + 8, 'the field pointer names the second count');
    assert.equal((await unmap(s, unmapList([[0, 0x3fffff]]))).status, GOOD);
  });
});

test('WRITE SAME(16) with UNMAP and a zero block punches a hole; with a pattern it writes every block', async (t) => {
  await withScsi([{}], async (s) => {
    if (!needsHoles(t, s)) return;
    const file = s.files[0]!;
    const before = allocated(file);
    const hole = await s.cmd(writeSame16(512, 1024, 0x08), { out: Buffer.alloc(BLOCK) });
    assert.deepEqual([hole.status, hole.resid], [GOOD, 0]);
    assert.ok(allocated(file) <= before - 1024);
    let image = fs.readFileSync(file);
    assert.ok(image.subarray(512 * BLOCK, 1536 * BLOCK).every((b) => b === 0));
    assert.deepEqual([image[512 * BLOCK - 1], image[1536 * BLOCK]], [0xab, 0xab]);

    const block = pattern(BLOCK, 9);
    for (const flags of [0, 0x08]) { // with UNMAP too: a pattern that is not zeros is written
      const r = await s.cmd(writeSame16(10 + flags, 300, flags), { out: block });
      assert.equal(r.status, GOOD);
      image = fs.readFileSync(file);
      for (let i = 0; i < 300; i++) {
        assert.ok(image.subarray((10 + flags + i) * BLOCK, (11 + flags + i) * BLOCK).equals(block), `block ${i}`);
      }
      assert.equal(image[(310 + flags) * BLOCK], 0xab, 'and no further');
    }
    assert.equal(s.dev.counters().writeSames, 3);
  });
});

test('WRITE SAME: zeros without UNMAP, NDOB, the 10-byte form, and the checks on its length and range', async () => {
  await withScsi([{}], async (s) => {
    const file = s.files[0]!;
    const zeros = await s.cmd(writeSame16(0, 16), { out: Buffer.alloc(BLOCK) });
    assert.equal(zeros.status, GOOD);
    const ndob = await s.cmd(writeSame16(100, 4, 0x01));
    assert.deepEqual([ndob.status, ndob.resid], [GOOD, 0], 'no data-out buffer: zeros');
    const ten = await s.cmd([0x41, 0, ...be32(200), 0, ...be16(3), 0], { out: Buffer.alloc(BLOCK, 0x5a) });
    assert.equal(ten.status, GOOD);
    const image = fs.readFileSync(file);
    assert.ok(image.subarray(0, 16 * BLOCK).every((b) => b === 0));
    assert.ok(image.subarray(100 * BLOCK, 104 * BLOCK).every((b) => b === 0));
    assert.ok(image.subarray(200 * BLOCK, 203 * BLOCK).every((b) => b === 0x5a));
    assert.deepEqual([image[16 * BLOCK], image[104 * BLOCK], image[203 * BLOCK]], [0xab, 0xab, 0xab]);

    assert.deepEqual(senseOf(await s.cmd(writeSame16(0, 0), { out: Buffer.alloc(BLOCK) })), [5, 0x24, 0], 'WSNZ');
    assert.deepEqual(senseOf(await s.cmd(writeSame16(0, 65537), { out: Buffer.alloc(BLOCK) })), [5, 0x24, 0]);
    assert.deepEqual(senseOf(await s.cmd(writeSame16(2047, 2), { out: Buffer.alloc(BLOCK) })), [5, 0x21, 0]);
    assert.deepEqual(senseOf(await s.cmd(writeSame16(0, 1, 0x10), { out: Buffer.alloc(BLOCK) })), [5, 0x24, 0], 'ANCHOR');
    assert.equal((await s.cmd(writeSame16(0, 1), { out: Buffer.alloc(100) })).response, 1, 'less than a block');
  });
});
