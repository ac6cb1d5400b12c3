import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  findKconfigMismatches, formatKconfigMismatches, KconfigParseError, parseKconfig,
} from '../../src/guest/kconfig';

test('assignments, "is not set" comments, strings and numbers are read; other comments skipped', () => {
  const values = parseKconfig([
    '# a comment',
    'CONFIG_SMP=y',
    '  CONFIG_VIRTIO_BLK=m  ',
    '# CONFIG_ACPI is not set',
    'CONFIG_NR_CPUS=8',
    'CONFIG_PHYSICAL_START=0x1000000',
    'CONFIG_CMDLINE="console=ttyS0 quiet"',
    '',
  ].join('\n'), { strict: true });
  assert.deepEqual([...values], [
    ['CONFIG_SMP', 'y'], ['CONFIG_VIRTIO_BLK', 'm'], ['CONFIG_ACPI', 'n'], ['CONFIG_NR_CPUS', '8'],
    ['CONFIG_PHYSICAL_START', '0x1000000'], ['CONFIG_CMDLINE', '"console=ttyS0 quiet"'],
  ]);
});

test('strict parsing names the file and line of a bad or repeated line', () => {
  assert.throws(() => parseKconfig('CONFIG_A=y\nSMP=y\n', { source: 'frag', strict: true }),
    (e: unknown) => e instanceof KconfigParseError && e.line === 2 && /^frag:2: not a CONFIG_ line/.test(e.message));
  assert.throws(() => parseKconfig('CONFIG_A=y\n# CONFIG_A is not set\n', { source: 'frag', strict: true }),
    /frag:2: CONFIG_A is set twice/);
  assert.throws(() => parseKconfig('CONFIG_A=yes\n', { source: 'frag', strict: true }), /frag:1: value is not/);
  assert.throws(() => parseKconfig('CONFIG_A="unterminated\n', { strict: true }), /value is not/);
});

test('loose parsing (a .config) skips what it does not understand', () => {
  const values = parseKconfig('garbage\nCONFIG_A=y\n#\n# Kernel hacking\n#\n', {});
  assert.deepEqual([...values], [['CONFIG_A', 'y']]);
});

test('mismatches: changed, dropped, and absent-means-n', () => {
  const wanted = parseKconfig('CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\nCONFIG_D=8\nCONFIG_E=0x10\n', {});
  const final = parseKconfig('CONFIG_A=y\nCONFIG_D=16\nCONFIG_C=y\nCONFIG_E=0x00010\n', {});
  const mismatches = findKconfigMismatches(wanted, final);
  assert.deepEqual(mismatches, [
    { symbol: 'CONFIG_B', wanted: 'y', got: 'n' },
    { symbol: 'CONFIG_C', wanted: 'n', got: 'y' },
    { symbol: 'CONFIG_D', wanted: '8', got: '16' },
  ]);
  assert.equal(formatKconfigMismatches(mismatches), [
    '  CONFIG_B: wanted y, got n (not set or dropped)',
    '  CONFIG_C: wanted n, got y',
    '  CONFIG_D: wanted 8, got 16',
  ].join('\n'));
  // A symbol asked to be off may be missing from .config altogether (Kconfig hides it): that is a match.
  assert.deepEqual(findKconfigMismatches(parseKconfig('# CONFIG_X is not set\n', {}), new Map()), []);
});

test("the project's fragment parses strictly and asks for what the guest needs", () => {
  const file = path.join(__dirname, '..', '..', '..', 'configs', 'kernel.config');
  const values = parseKconfig(fs.readFileSync(file, 'utf8'), { source: file, strict: true });
  const on = ['CONFIG_64BIT', 'CONFIG_PVH', 'CONFIG_KVM_GUEST', 'CONFIG_VIRTIO_MMIO', 'CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES',
    'CONFIG_VIRTIO_BLK', 'CONFIG_VIRTIO_NET', 'CONFIG_VIRTIO_CONSOLE', 'CONFIG_HW_RANDOM_VIRTIO',
    'CONFIG_VIRTIO_BALLOON', 'CONFIG_VIRTIO_VSOCKETS', 'CONFIG_VIRTIO_FS', 'CONFIG_EXT4_FS', 'CONFIG_SERIAL_8250_CONSOLE',
    'CONFIG_BLK_DEV_INITRD', 'CONFIG_HZ_100', 'CONFIG_KERNEL_UNCOMPRESSED', 'CONFIG_NETCONSOLE', 'CONFIG_IP_PNP_DHCP',
    'CONFIG_ACPI', 'CONFIG_PNPACPI'];
  for (const symbol of on) assert.equal(values.get(symbol), 'y', symbol);
  for (const symbol of ['CONFIG_CMDLINE_BOOL', 'CONFIG_KERNEL_XZ']) {
    assert.equal(values.get(symbol), 'n', symbol);
  }
});
