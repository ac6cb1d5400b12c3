// The SPC commands and what the device answers to a bad CDB, a bad LUN, a missing logical unit and buffers that do
// not fit the CDB, driven through the mock driver.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { be16, be32, be64, lun, senseOf, withScsi } from './harness';

const GOOD = 0;
const CHECK = 2;
const ILLEGAL = 5;
const inquiry = (evpd: number, page: number, alloc: number): number[] => [0x12, evpd, page, ...be16(alloc), 0];

test('standard INQUIRY: a disk from TSVMM, SPC-3, command queuing; the residual is the room left', async () => {
  await withScsi([{}], async (s) => {
    const r = await s.cmd(inquiry(0, 0, 96), { inLen: 96 });
    assert.deepEqual([r.response, r.status, r.senseLen], [0, GOOD, 0]);
    assert.equal(r.data[0], 0x00, 'peripheral qualifier 0, direct-access block device');
    assert.equal(r.data[2], 0x05);
    assert.equal(r.data[4], 31, 'additional length of 36-byte data');
    assert.equal(r.data[7]! & 0x02, 0x02, 'CMDQUE');
    assert.equal(r.data.subarray(8, 16).toString('ascii'), 'TSVMM   ');
    assert.equal(r.data.subarray(16, 32).toString('ascii'), 'VIRTUAL DISK    ');
    assert.equal(r.resid, 96 - 36);
    assert.equal(r.usedLen, 12 + 96 + 36);
    assert.equal(r.data[36], 0xcc, 'nothing written past the data');
    // The allocation length cuts the data short.
    const short = await s.cmd(inquiry(0, 0, 5), { inLen: 5 });
    assert.deepEqual([short.status, short.resid, short.data[4]], [GOOD, 0, 31]);
  });
});

test('INQUIRY VPD pages: the list, the serial, device identification, block limits, characteristics, provisioning', async () => {
  await withScsi([{ serial: 'abc123' }, { serial: 'xyz' }], async (s) => {
    const page = async (p: number, target = 0): Promise<Buffer> => {
      const r = await s.cmd(inquiry(1, p, 255), { inLen: 255, target });
      assert.equal(r.status, GOOD, `page 0x${p.toString(16)}`);
      assert.equal(r.data[1], p);
      return r.data.subarray(0, 4 + r.data.readUInt16BE(2));
    };
    assert.deepEqual([...(await page(0x00)).subarray(4)], [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]);
    assert.equal((await page(0x80)).subarray(4).toString('ascii'), 'abc123');

    const ids = await page(0x83);
    assert.deepEqual([ids[4], ids[5], ids[7]], [0x02, 0x01, 14], 'T10 vendor ID, ASCII, 14 bytes');
    assert.equal(ids.subarray(8, 22).toString('ascii'), 'TSVMM   abc123');
    assert.deepEqual([ids[22], ids[23], ids[25]], [0x01, 0x03, 8], 'NAA, binary, 8 bytes');
    assert.equal(ids[26]! >> 4, 3, 'NAA locally assigned');
    const naa = (b: Buffer): string => b.subarray(26, 34).toString('hex');
    assert.equal(naa(await page(0x83)), naa(ids), 'the same every time');
    assert.notEqual(naa(await page(0x83, 1)), naa(ids), 'another serial, another name');

    const limits = await page(0xb0);
    assert.equal(limits.length, 64);
    assert.equal(limits[4]! & 1, 1, 'WSNZ');
    assert.equal(limits.readUInt32BE(8), 8192, 'maximum transfer length');
    assert.equal(limits.readBigUInt64BE(36), 65536n, 'maximum write same length');
    const unmap = s.dev.disks[0]!.canUnmap;
    assert.equal(limits.readUInt32BE(20), unmap ? 0x3fffff : 0, 'maximum unmap LBA count');
    assert.equal(limits.readUInt32BE(24), unmap ? 16 : 0, 'maximum unmap descriptor count');

    assert.equal((await page(0xb1)).readUInt16BE(4), 1, 'non-rotating');
    const lbp = await page(0xb2);
    assert.equal(lbp[5]! & 0xc0, unmap ? 0xc0 : 0, 'LBPU and LBPWS where holes can be punched');
  });
});

test('INQUIRY with a page it does not have, or a page without EVPD, is INVALID FIELD IN CDB pointing at byte 2', async () => {
  await withScsi([{ readonly: true }], async (s) => {
    for (const cdb of [inquiry(1, 0x89, 64), inquiry(0, 0x80, 64), inquiry(2, 0, 64)]) {
      const r = await s.cmd(cdb, { inLen: 64 });
      assert.equal(r.status, CHECK);
      assert.deepEqual(senseOf(r), [ILLEGAL, 0x24, 0]);
      assert.equal(r.sense[15]! & 0xc0, 0xc0, 'SKSV, in the CDB');
      assert.equal(r.resid, 64);
    }
    const lbp = await s.cmd(inquiry(1, 0xb2, 64), { inLen: 64 });
    assert.equal(lbp.data[5], 0, 'a read-only disk offers no unmap');
  });
});

test('TEST UNIT READY and START STOP UNIT are GOOD; REQUEST SENSE has nothing pending', async () => {
  await withScsi([{}], async (s) => {
    for (const cdb of [[0, 0, 0, 0, 0, 0], [0x1b, 0, 0, 0, 1, 0]]) {
      const r = await s.cmd(cdb);
      assert.deepEqual([r.response, r.status, r.senseLen, r.resid, r.usedLen], [0, GOOD, 0, 0, 108]);
    }
    const sense = await s.cmd([0x03, 0, 0, 0, 252, 0], { inLen: 252 });
    assert.equal(sense.status, GOOD);
    assert.deepEqual([sense.data[0], sense.data[2], sense.data[7], sense.data[12]], [0x70, 0, 10, 0]);
    assert.equal(sense.resid, 252 - 18);
    const desc = await s.cmd([0x03, 1, 0, 0, 252, 0], { inLen: 252 });
    assert.deepEqual(senseOf(desc), [ILLEGAL, 0x24, 0], 'descriptor format is not offered');
  });
});

test('READ CAPACITY(10) and (16): the last block and 512-byte blocks; LBPME where unmap works', async () => {
  await withScsi([{ bytes: 3 << 20 }], async (s) => {
    const rc10 = await s.cmd([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], { inLen: 8 });
    assert.equal(rc10.status, GOOD);
    assert.deepEqual([rc10.data.readUInt32BE(0), rc10.data.readUInt32BE(4)], [6143, 512]);
    const bad = await s.cmd([0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0], { inLen: 8 });
    assert.deepEqual(senseOf(bad), [ILLEGAL, 0x24, 0], 'an LBA without PMI');
    const rc16 = await s.cmd([0x9e, 0x10, ...be64(0), ...be32(32), 0, 0], { inLen: 32 });
    assert.equal(rc16.status, GOOD);
    assert.equal(rc16.data.readBigUInt64BE(0), 6143n);
    assert.equal(rc16.data.readUInt32BE(8), 512);
    assert.equal(rc16.data[14]! & 0xc0, s.dev.disks[0]!.canUnmap ? 0xc0 : 0);
    const other = await s.cmd([0x9e, 0x11, ...be64(0), ...be32(32), 0, 0], { inLen: 32 });
    assert.deepEqual(senseOf(other), [ILLEGAL, 0x24, 0], 'a service action it does not have');
  });
});

test('MODE SENSE(6) and (10): the caching page with WCE, a block descriptor unless DBD, WP on a read-only disk', async () => {
  await withScsi([{}, { readonly: true }], async (s) => {
    const six = await s.cmd([0x1a, 0, 0x08, 0, 255, 0], { inLen: 255 });
    assert.equal(six.status, GOOD);
    assert.deepEqual([six.data[0], six.data[2], six.data[3]], [4 + 8 + 20 - 1, 0, 8]);
    assert.deepEqual([six.data.readUInt32BE(4), six.data.readUInt32BE(8)], [2048, 512], 'blocks, then the block length');
    assert.deepEqual([six.data[12], six.data[13], six.data[14]! & 0x04], [0x08, 18, 0x04], 'caching page, WCE');
    assert.equal(six.resid, 255 - 32);

    const all = await s.cmd([0x1a, 0x08, 0x3f, 0, 255, 0], { inLen: 255, target: 1 });
    assert.deepEqual([all.data[0], all.data[2], all.data[3], all.data[4]], [4 + 20 - 1, 0x80, 0, 0x08], 'DBD, WP, all pages');
    const changeable = await s.cmd([0x1a, 0x08, 0x48, 0, 255, 0], { inLen: 255 });
    assert.equal(changeable.data[6], 0, 'nothing is changeable');

    const ten = await s.cmd([0x5a, 0x10, 0x08, 0, 0, 0, 0, ...be16(255), 0], { inLen: 255 });
    assert.equal(ten.status, GOOD);
    assert.deepEqual([ten.data.readUInt16BE(0), ten.data[4], ten.data.readUInt16BE(6)], [8 + 16 + 20 - 2, 1, 16]);
    assert.equal(ten.data.readBigUInt64BE(8), 2048n, 'the long block descriptor (LLBAA)');
    assert.equal(ten.data[24], 0x08);

    const saved = await s.cmd([0x1a, 0, 0xc8, 0, 255, 0], { inLen: 255 });
    assert.deepEqual(senseOf(saved), [ILLEGAL, 0x39, 0], 'no saved values');
    const control = await s.cmd([0x1a, 0, 0x0a, 0, 255, 0], { inLen: 255 });
    assert.deepEqual(senseOf(control), [ILLEGAL, 0x24, 0], 'a page it does not have');
    const subpage = await s.cmd([0x1a, 0, 0x08, 1, 255, 0], { inLen: 255 });
    assert.deepEqual(senseOf(subpage), [ILLEGAL, 0x24, 0]);
  });
});

test('REPORT LUNS lists LUN 0 only; an allocation length under 16 is refused', async () => {
  await withScsi([{}], async (s) => {
    const reportLuns = (select: number, alloc: number): number[] => [0xa0, 0, select, 0, 0, 0, ...be32(alloc), 0, 0];
    const r = await s.cmd(reportLuns(0, 64), { inLen: 64 });
    assert.equal(r.status, GOOD);
    assert.deepEqual([...r.data.subarray(0, 16)], [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(r.resid, 64 - 16);
    const wellKnown = await s.cmd(reportLuns(1, 64), { inLen: 64 });
    assert.equal(wellKnown.data.readUInt32BE(0), 0, 'no well-known logical units');
    assert.deepEqual(senseOf(await s.cmd(reportLuns(0, 8), { inLen: 8 })), [ILLEGAL, 0x24, 0]);
    assert.deepEqual(senseOf(await s.cmd(reportLuns(7, 64), { inLen: 64 })), [ILLEGAL, 0x24, 0]);
  });
});

test('an unknown opcode is INVALID COMMAND OPERATION CODE; NACA in the control byte is an invalid field', async () => {
  await withScsi([{}], async (s) => {
    for (const op of [0xc0, 0xa3, 0x2f, 0x04]) {
      const r = await s.cmd([op, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
      assert.equal(r.status, CHECK);
      assert.deepEqual(senseOf(r), [ILLEGAL, 0x20, 0], `opcode 0x${op.toString(16)}`);
      assert.equal(r.senseLen, 18);
    }
    assert.equal(s.dev.counters().unsupported, 4);
    const naca = await s.cmd([0, 0, 0, 0, 0, 0x04]);
    assert.deepEqual(senseOf(naca), [ILLEGAL, 0x24, 0]);
    assert.equal(naca.sense.readUInt16BE(16), 5, 'the field pointer names the control byte');
  });
});

test('a LUN naming no target is BAD_TARGET; a missing logical unit answers INQUIRY with qualifier 3', async () => {
  await withScsi([{}], async (s) => {
    for (const bad of [lun(1), lun(255), [0xc1, 0x01, 0, 0, 0, 0, 0, 0], [0, 0, 0x40, 0, 0, 0, 0, 0]]) {
      const r = await s.cmd(inquiry(0, 0, 36), { lun: bad, inLen: 36 });
      assert.equal(r.response, 3, `LUN ${bad.join(',')}`);
      assert.deepEqual([r.senseLen, r.resid, r.data[0]], [0, 36, 0xcc], 'nothing moved');
    }
    assert.equal(s.dev.counters().badTargets, 4);

    for (const missing of [lun(0, 1), lun(0, 300), [1, 0, 0x40, 0, 0, 0, 0, 1], [1, 0, 0x80, 0, 0, 0, 0, 0], [1, 0, 0x01, 0, 0, 0, 0, 0]]) {
      const inq = await s.cmd(inquiry(0, 0, 36), { lun: missing, inLen: 36 });
      assert.deepEqual([inq.response, inq.status, inq.data[0]], [0, GOOD, 0x7f], `LUN ${missing.join(',')}`);
      const tur = await s.cmd([0, 0, 0, 0, 0, 0], { lun: missing });
      assert.deepEqual(senseOf(tur), [ILLEGAL, 0x25, 0], 'LOGICAL UNIT NOT SUPPORTED');
    }
    const sense = await s.cmd([0x03, 0, 0, 0, 18, 0], { lun: lun(0, 1), inLen: 18 });
    assert.equal(sense.status, GOOD);
    assert.deepEqual([sense.data[2], sense.data[12]], [ILLEGAL, 0x25]);
    const vpd = await s.cmd(inquiry(1, 0, 64), { lun: lun(0, 1), inLen: 64 });
    assert.deepEqual(senseOf(vpd), [ILLEGAL, 0x25, 0]);
    const luns = await s.cmd([0xa0, 0, 0, 0, 0, 0, ...be32(16), 0, 0], { lun: lun(0, 1), inLen: 16 });
    assert.deepEqual([luns.status, luns.data.readUInt32BE(0)], [GOOD, 8]);
    // Peripheral addressing of LUN 0 is LUN 0 too.
    const periph = await s.cmd(inquiry(0, 0, 36), { lun: [1, 0, 0, 0, 0, 0, 0, 0], inLen: 36 });
    assert.equal(periph.data[0], 0);
  });
});

test('an allocation length larger than the data-in buffers is OVERRUN, nothing moved', async () => {
  await withScsi([{}], async (s) => {
    const r = await s.cmd(inquiry(0, 0, 96), { inLen: 36 });
    assert.deepEqual([r.response, r.resid, r.data[0]], [1, 36, 0xcc]);
    const none = await s.cmd([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(none.response, 1, 'READ CAPACITY with no data-in buffer');
    assert.equal(s.dev.counters().overruns, 2);
  });
});

test('data-out and data-in in one request (no INOUT) is FAILURE', async () => {
  await withScsi([{}], async (s) => {
    const r = await s.cmd(inquiry(0, 0, 36), { inLen: 36, out: Buffer.alloc(512) });
    assert.deepEqual([r.response, r.resid, r.data[0]], [9, 36 + 512, 0xcc]);
  });
});

test('sense data is cut to the sense_size the driver set; the response area follows it', async () => {
  await withScsi([{}], async (s) => {
    s.dev.configWrite(20, Buffer.from([8, 0, 0, 0]));
    const r = await s.cmd([0xc0, 0, 0, 0, 0, 0], { senseSize: 8 });
    assert.equal(r.senseLen, 8);
    assert.deepEqual([...r.sense], [0x70, 0, ILLEGAL, 0, 0, 0, 0, 10]);
    assert.equal(r.usedLen, 12 + 8);
    const inq = await s.cmd(inquiry(0, 0, 36), { senseSize: 8, inLen: 36 });
    assert.equal(inq.data.subarray(8, 13).toString('ascii'), 'TSVMM', 'data-in starts right after the 8 sense bytes');
    s.dev.configWrite(20, Buffer.from([0, 0, 0, 0]));
    const none = await s.cmd([0xc0, 0, 0, 0, 0, 0], { senseSize: 0 });
    assert.deepEqual([none.status, none.senseLen], [CHECK, 0]);
  });
});
