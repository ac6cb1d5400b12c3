import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, GiB, KiB, MiB, parseSize, SizeError } from '../../src/vmm/units';

test('parseSize reads binary units in their common spellings', () => {
  assert.equal(parseSize('512M'), 512 * MiB);
  assert.equal(parseSize('512MiB'), 512 * MiB);
  assert.equal(parseSize('512 MB'), 512 * MiB);
  assert.equal(parseSize('2GiB'), 2 * GiB);
  assert.equal(parseSize('2g'), 2 * GiB);
  assert.equal(parseSize('64k'), 64 * KiB);
  assert.equal(parseSize('1.5G'), 1536 * MiB);
  assert.equal(parseSize('4096B'), 4096);
  assert.equal(parseSize('1T'), 1024 * GiB);
});

test('parseSize counts bare numbers in the unit asked for', () => {
  assert.equal(parseSize(4096), 4096);
  assert.equal(parseSize(256, { numberUnit: 'M' }), 256 * MiB);
  assert.equal(parseSize('256', { numberUnit: 'M' }), 256 * MiB);
  assert.equal(parseSize('256B', { numberUnit: 'M' }), 256);
});

test('parseSize rejects what is not a size, naming the value', () => {
  assert.throws(() => parseSize('12 parsecs'),
    { name: 'SizeError', message: '"12 parsecs" is not a size (use e.g. 512M, 2GiB)' });
  assert.throws(() => parseSize(''), SizeError);
  assert.throws(() => parseSize('-1M'), SizeError);
  assert.throws(() => parseSize(-5), /-5 is not a size/);
  assert.throws(() => parseSize(Number.NaN), SizeError);
  assert.throws(() => parseSize('0x10'), SizeError);
  assert.throws(() => parseSize('1.1K'), /"1.1K" is not a whole number of bytes/);
  assert.throws(() => parseSize('9999999999T'), /too large/);
});

test('formatBytes picks the largest unit and trims decimals', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(100), '100 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(512 * MiB), '512 MiB');
  assert.equal(formatBytes(2 * GiB + 256 * MiB), '2.25 GiB');
  assert.equal(formatBytes(-2048), '-2 KiB');
});
