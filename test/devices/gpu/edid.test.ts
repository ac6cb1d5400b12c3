// The EDID each mode gets: a valid E-EDID 1.4 base block (header, version, checksum) whose first descriptor is
// the mode's detailed timing, and for modes a detailed timing cannot hold a DisplayID extension that does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildEdid, EDID_BLOCK } from '../../../src/devices/gpu/edid';

const sum = (b: Uint8Array): number => b.reduce((n, v) => n + v, 0) & 0xff;

function checkBase(b: Buffer): void {
  assert.deepEqual([...b.subarray(0, 8)], [0, 255, 255, 255, 255, 255, 255, 0], 'header');
  assert.deepEqual([b[18], b[19]], [1, 4], 'EDID 1.4');
  assert.equal(b[20]! & 0x80, 0x80, 'digital input');
  assert.equal(b.readUInt16BE(8) & 0x8000, 0, 'manufacturer ID bit 15 is 0');
  assert.equal(sum(b.subarray(0, EDID_BLOCK)), 0, 'checksum');
}

/** The detailed timing descriptor at `at`: active and blanking sizes, and the pixel clock in kHz. */
function readDtd(b: Buffer, at: number) {
  const d = b.subarray(at, at + 18);
  return {
    clockKhz: d.readUInt16LE(0) * 10,
    width: d[2]! | ((d[4]! >> 4) << 8), hBlank: d[3]! | ((d[4]! & 0xf) << 8),
    height: d[5]! | ((d[7]! >> 4) << 8), vBlank: d[6]! | ((d[7]! & 0xf) << 8),
  };
}

for (const [w, h] of [[1024, 768], [1920, 1080], [3840, 2160], [16, 16]] as const) {
  test(`${w} x ${h}: one block, its preferred timing the mode at about 60 Hz`, () => {
    const e = buildEdid(w, h);
    assert.equal(e.length, 128);
    checkBase(e);
    assert.equal(e[126], 0, 'no extensions');
    assert.equal(e[24]! & 0x02, 0x02, 'the first descriptor is the native mode');
    const t = readDtd(e, 54);
    assert.equal(t.clockKhz > 0, true);
    assert.deepEqual([t.width, t.height], [w, h]);
    const hz = (t.clockKhz * 1000) / ((t.width + t.hBlank) * (t.height + t.vBlank));
    assert.ok(hz >= 59.9 && hz < 61, `${hz} Hz`); // the clock is in steps of 10 kHz
    const name = e.subarray(54 + 18, 54 + 36);
    assert.equal(name[3], 0xfc, 'a monitor name');
    assert.equal(name.subarray(5).toString('ascii').trimEnd(), 'tsvmm');
  });
}

for (const [w, h] of [[7680, 4320], [4096, 2160], [5120, 2880]] as const) {
  test(`${w} x ${h}: past a detailed timing, so a DisplayID extension holds the preferred mode`, () => {
    const e = buildEdid(w, h);
    assert.equal(e.length, 256);
    checkBase(e);
    assert.equal(e[126], 1, 'one extension');
    assert.equal(e[54 + 3], 0x10, 'the base block has no detailed timing');
    const ext = e.subarray(128);
    assert.equal(ext[0], 0x70, 'DisplayID');
    assert.equal(sum(ext), 0, 'block checksum');
    const bytes = ext[2]!;
    assert.equal(sum(ext.subarray(1, 1 + 5 + bytes)), 0, 'section checksum');
    assert.deepEqual([ext[1], ext[5], ext[7]], [0x13, 0x03, 20], 'DisplayID 1.3, a Type I timing of 20 bytes');
    const d = ext.subarray(8, 28);
    assert.equal(d[3]! & 0x80, 0x80, 'preferred');
    assert.deepEqual([d.readUInt16LE(4) + 1, d.readUInt16LE(12) + 1], [w, h]);
  });
}
