import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buffer, device, eisaId, integer, method, name, nameString, notify, pkg, pkgLength, scope, string } from '../../../src/vmm/acpi/aml';
import { edgeInterrupt, ioPorts, irqNoFlags, memory32Fixed, resourceTemplate } from '../../../src/vmm/acpi/resources';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('PkgLength takes one byte up to 63 and counts its own bytes in the longer forms', () => {
  assert.equal(hex(pkgLength(0)), '01');
  assert.equal(hex(pkgLength(62)), '3f');
  // 63 + 2 = 65 = 0x41: lead byte 0x40 | (0x41 & 0xf), then 0x41 >> 4.
  assert.equal(hex(pkgLength(63)), '4104');
  assert.equal(hex(pkgLength(0xffd)), '4fff');
  assert.equal(hex(pkgLength(0xffe)), '810001');
  assert.equal(hex(pkgLength(0xffffc)), '8fffff');
  assert.equal(hex(pkgLength(0xffffd)), 'c1000001');
  assert.throws(() => pkgLength(0x1000_0000), RangeError);
});

test('integers take the shortest encoding, Zero and One their own opcodes', () => {
  assert.equal(hex(integer(0)), '00');
  assert.equal(hex(integer(1)), '01');
  assert.equal(hex(integer(5)), '0a05');
  assert.equal(hex(integer(0x3f8)), '0bf803');
  assert.equal(hex(integer(0xd0000000)), '0c000000d0');
  assert.equal(hex(integer(0x1_0000_0000n)), '0e0000000001000000');
  assert.throws(() => integer(-1), RangeError);
});

test('names: segments padded with _, root, dual and multi prefixes; bad names refused', () => {
  assert.equal(hex(nameString('_SB')), '5f53425f');
  assert.equal(hex(nameString('\\_SB')), '5c5f53425f');
  assert.equal(hex(nameString('\\_SB.COM1')), '5c2e5f53425f434f4d31');
  assert.equal(hex(nameString('A.B.C')), '2f03415f5f5f425f5f5f435f5f5f');
  for (const bad of ['com1', '1ABC', 'TOOLONG', 'A-B']) assert.throws(() => nameString(bad), RangeError, bad);
});

test('strings and EISA ids', () => {
  assert.equal(hex(string('LNRO0005')), '0d4c4e524f3030303500');
  assert.throws(() => string('caf\u00e9'), RangeError);
  // PNP0501 as every firmware encodes it: 0x0105D041.
  assert.equal(hex(eisaId('PNP0501')), '0c41d00501');
  assert.equal(hex(eisaId('PNP0303')), '0c41d00303');
  assert.throws(() => eisaId('pnp0501'), RangeError);
});

test('named objects, packages, buffers, scopes and devices nest their lengths', () => {
  assert.equal(hex(name('_UID', integer(1))), '085f5549440' + '1');
  assert.equal(hex(pkg(integer(5), integer(0))), '1205020a0500');
  assert.equal(hex(buffer(Uint8Array.of(0x79, 0))), '11050a027900');
  assert.equal(hex(scope('\\_SB')), '10065c5f53425f');
  assert.equal(hex(device('COM1')), '5b820543' + '4f4d31');
  assert.throws(() => pkg(...Array.from({ length: 256 }, () => integer(0))), RangeError);
});

test('a method holding a Notify: its argument count in the flags byte, the notify value as an integer', () => {
  const n = notify('\\_SB.PWRB', 0x80);
  assert.equal(hex(n), '86' + '5c2e5f53425f50575242' + '0a80');
  assert.equal(hex(method('_EVT', 1, n)), '1413' + '5f455654' + '01' + hex(n));
  assert.throws(() => method('_EVT', 8), RangeError);
  assert.throws(() => notify('PWRB', 256), RangeError);
});

test('resource descriptors', () => {
  assert.equal(hex(ioPorts(0x3f8, 8)), '4701f803f8030108');
  assert.equal(hex(irqNoFlags(4)), '221000');
  assert.equal(hex(memory32Fixed(0xd0000000, 0x1000)), '8609000100000' + '0d000100000');
  assert.equal(hex(edgeInterrupt(23)), '89060003011700' + '0000');
  assert.equal(hex(resourceTemplate()), '11050a027900');
  assert.throws(() => irqNoFlags(16), RangeError);
  assert.throws(() => ioPorts(0x10000, 1), RangeError);
  assert.throws(() => memory32Fixed(0xffff_f000, 0x2000), RangeError);
});
