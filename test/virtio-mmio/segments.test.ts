import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gather, scatter, scatterAll, sliceSegments, totalBytes } from '../../src/virtio-mmio/segments';

test('scatter, gather and views keep offsets straight', () => {
  const dst = [new Uint8Array(3), new Uint8Array(4)];
  assert.equal(scatterAll(dst, 2, [Buffer.from('abcd')]), 4);
  assert.deepEqual(Buffer.concat(dst.map((d) => Buffer.from(d))).toString('latin1'), '\0\0abcd\0');
  assert.deepEqual(sliceSegments(dst, 3).map((v) => v.length), [4]);
  assert.equal(gather(sliceSegments(dst, 2), 3)!.toString(), 'abc');
});

test('several sources land one after the other; what does not fit is cut and not counted', () => {
  const dst = [new Uint8Array(2), new Uint8Array(0), new Uint8Array(3)];
  assert.equal(scatterAll(dst, 1, [Buffer.from('xy'), Buffer.from('zwv')]), 4);
  assert.equal(Buffer.concat(dst).toString('latin1'), '\0xyzw');
  assert.equal(scatter(dst, 4, Buffer.from('QRS')), 1);
  assert.equal(totalBytes(dst), 5);
});

test('gather is undefined when the range holds fewer bytes than asked; slices never reach past it', () => {
  const src = [Buffer.from('ab'), Buffer.from('cde')];
  assert.equal(gather(src, 6), undefined);
  assert.equal(gather(src, 5)!.toString(), 'abcde');
  assert.deepEqual(sliceSegments(src, 1, 3).map((b) => Buffer.from(b).toString()), ['b', 'cd']);
  assert.deepEqual(sliceSegments(src, 9), []);
});
