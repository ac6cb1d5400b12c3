import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ConfigError, toConfigInput, validateConfig } from '../../src/vmm/config';
import { configFixture } from '../helpers/config-fixture';
import { MiB } from '../../src/vmm/units';
import { deviceConfigError } from '../../src/vmm/virtio-devices';
import { ScsiDiskError } from '../../src/devices/scsi/disk';

const { dir, valid, rejects } = configFixture('tsvmm-config-scsi-', { 'a.img': Buffer.alloc(4096), 'b.img': Buffer.alloc(4096) });

test('a scsi adapter: its disks with paths resolved, defaults filled, and back to an input that validates again', () => {
  const c = valid({ devices: [{ type: 'rng' }, { type: 'scsi', disks: [{ path: 'a.img', serial: 's0' },
    { path: 'b.img', readonly: true }, { path: 'new.img', create: true, size: '2M' }] }] });
  assert.deepEqual(c.devices[1], { type: 'scsi', disks: [
    { path: path.join(dir, 'a.img'), readonly: false, create: false, serial: 's0' },
    { path: path.join(dir, 'b.img'), readonly: true, create: false },
    { path: path.join(dir, 'new.img'), readonly: false, create: true, size: 2 * MiB },
  ] });
  const input = toConfigInput(c);
  assert.deepEqual(input.devices?.[1], { type: 'scsi', disks: [
    { path: path.join(dir, 'a.img'), readonly: false, create: false, serial: 's0' },
    { path: path.join(dir, 'b.img'), readonly: true, create: false },
    { path: path.join(dir, 'new.img'), readonly: false, create: true, size: '2M' },
  ] });
  assert.deepEqual(validateConfig(input, { baseDir: dir }).devices, c.devices);
});

test('scsi config errors name the disk and its field', () => {
  rejects([{ type: 'scsi', disks: [] }], 'devices[0].disks', 'has 0 entries; 1..16 allowed');
  rejects([{ type: 'scsi', disks: Array.from({ length: 17 }, (_, i) => ({ path: `${i}.img` })) }], 'devices[0].disks',
    'has 17 entries; 1..16 allowed');
  rejects([{ type: 'scsi' }], 'devices[0].disks', 'required');
  rejects([{ type: 'scsi', disks: [{ path: 'a.img' }, { path: 'absent.img' }] }], 'devices[0].disks[1].path',
    'file not found: absent.img');
  rejects([{ type: 'scsi', disks: [{ path: 'a.img', readOnly: true }] }], 'devices[0].disks[0].readOnly',
    'unknown key (did you mean readonly?)');
  rejects([{ type: 'scsi', disks: [{ path: 'a.img', serial: 'x\u0001' }] }], 'devices[0].disks[0].serial',
    '"x\\u0001" is not printable ASCII');
  rejects([{ type: 'scsi', disks: [{ path: 'a.img', serial: 'x' }, { path: 'b.img', serial: 'x' }] }],
    'devices[0].disks[1].serial', '"x" is already the serial of disks[0]');
  rejects([{ type: 'scsi', disks: [{ path: 'a.img', size: '1M' }] }], 'devices[0].disks[0].size', 'only used with create: true');
  rejects([{ type: 'scsi', disks: [{ path: 'n.img', create: true }] }], 'devices[0].disks[0].size',
    'required with create: true when the image does not exist');
});

test('a disk image is attached once, whether to blk or to a scsi adapter', () => {
  rejects([{ type: 'scsi', disks: [{ path: 'a.img' }, { path: 'a.img' }] }], 'devices[0].disks[1].path',
    `${path.join(dir, 'a.img')} is already attached (see devices[0].disks[0].path)`);
  rejects([{ type: 'blk', path: 'a.img' }, { type: 'scsi', disks: [{ path: 'b.img' }, { path: 'a.img' }] }],
    'devices[1].disks[1].path', `${path.join(dir, 'a.img')} is already attached (see devices[0])`);
  rejects([{ type: 'scsi', disks: [{ path: 'b.img' }] }, { type: 'blk', path: 'b.img' }],
    'devices[1]', `${path.join(dir, 'b.img')} is already attached (see devices[0].disks[0].path)`);
});

test('a scsi disk is a disk image to the path clash check; a disk the device cannot open names its path field', () => {
  assert.throws(() => valid({ serial: { mode: 'file', path: 'a.img' }, devices: [{ type: 'scsi', disks: [{ path: 'a.img' }] }] }),
    (e: unknown) => e instanceof ConfigError && e.field === 'serial.path' && /is also devices\[0\]\.disks\[0\]\.path \(a disk image\)/.test(e.message));
  const e = deviceConfigError(2, new ScsiDiskError(1, '/x.img is smaller than one 512-byte block'));
  assert.ok(e instanceof ConfigError);
  assert.equal(e.field, 'devices[2].disks[1].path');
});
