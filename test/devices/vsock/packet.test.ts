import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  HDR_SIZE, OP, readPacket, u32diff, writePacket, type VsockHeader,
} from '../../../src/devices/vsock/packet';
import { parseConnectLine } from '../../../src/devices/vsock/unix-backend';
import { gather } from '../../../src/virtio-mmio/segments';

const hdr: VsockHeader = {
  srcCid: 2n, dstCid: 0xffff_ffff_0000_0003n, srcPort: 0x4000_0001, dstPort: 22, len: 5, type: 1, op: OP.RW,
  flags: 3, bufAlloc: 262144, fwdCnt: 0xffff_fff0,
};

test('a header and payload written across odd buffer splits read back the same', () => {
  for (const sizes of [[HDR_SIZE + 5], [HDR_SIZE, 5], [7, 30, 7, 2, 3], [1, 1, 100]]) {
    const bufs = sizes.map((n) => new Uint8Array(n));
    const written = writePacket(bufs, hdr, [Buffer.from('he'), Buffer.from('llo')]);
    assert.equal(written, HDR_SIZE + 5, `sizes ${sizes.join(',')}`);
    const p = readPacket(bufs, sizes.reduce((a, b) => a + b));
    assert.deepEqual(p!.hdr, hdr);
    assert.equal(gather(p!.rest, 5)!.toString(), 'hello');
  }
});

test('the header layout is the spec\'s: every field at its offset', () => {
  const b = new Uint8Array(HDR_SIZE);
  writePacket([b], hdr, []);
  const v = Buffer.from(b);
  assert.equal(v.readBigUInt64LE(8), hdr.dstCid);
  assert.equal(v.readUInt32LE(16), hdr.srcPort);
  assert.equal(v.readUInt32LE(20), hdr.dstPort);
  assert.equal(v.readUInt32LE(32), 3);
  assert.equal(v.readUInt32LE(36), hdr.bufAlloc);
  assert.equal(v.readUInt32LE(24), 5);
  assert.equal(v.readUInt16LE(28), 1);
  assert.equal(v.readUInt16LE(30), OP.RW);
  assert.equal(v.readUInt32LE(40), hdr.fwdCnt);
});

test('fewer than 44 bytes is no packet; payload that does not fit is cut at the buffers\' end', () => {
  assert.equal(readPacket([new Uint8Array(20), new Uint8Array(23)], 43), null);
  // A byte count the buffers do not bear out is no packet either, not a read past them.
  assert.equal(readPacket([], HDR_SIZE), null);
  assert.equal(readPacket([new Uint8Array(20)], HDR_SIZE), null);
  const small = [new Uint8Array(HDR_SIZE + 2)];
  assert.equal(writePacket(small, hdr, [Buffer.from('hello')]), HDR_SIZE + 2);
});

test('u32 counters compare modulo 2^32', () => {
  assert.equal(u32diff(5, 0xffff_fffb), 10);
  assert.equal(u32diff(10, 4), 6);
});

test('CONNECT lines', () => {
  assert.equal(parseConnectLine('CONNECT 0'), 0);
  assert.equal(parseConnectLine('CONNECT 4294967295'), 0xffff_ffff);
  assert.equal(parseConnectLine('CONNECT 52\r'), 52);
  for (const bad of ['CONNECT 4294967296', 'CONNECT', 'CONNECT ', 'CONNECT 1 ', ' CONNECT 1', 'CONNECT 0x10', 'CONNECT 12345678901']) {
    assert.equal(parseConnectLine(bad), null, bad);
  }
});
