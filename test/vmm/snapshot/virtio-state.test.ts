// Which devices a snapshot holds: every type the config knows today, and a type that has not opted in (a device
// added later without its state saved) is refused by name before anything is written.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateConfig, type MachineConfig } from '../../../src/vmm/config';
import { SnapshotError } from '../../../src/vmm/snapshot/format';
import { checkVirtioSnapshotable } from '../../../src/vmm/snapshot/virtio-state';

test('every device type is held; one that has not opted in is refused, named', () => {
  const config = validateConfig({ kernel: process.execPath, devices: [{ type: 'rng' }, { type: 'balloon' }, { type: 'crypto' }] });
  assert.doesNotThrow(() => checkVirtioSnapshotable(config));
  const later = { ...config, devices: [...config.devices, { type: 'pmem' }] } as unknown as MachineConfig;
  assert.throws(() => checkVirtioSnapshotable(later), (e: unknown) => e instanceof SnapshotError
    && e.code === 'ERR_SNAPSHOT_UNSUPPORTED' && /^devices\[3\] \(pmem\): snapshots hold rng, blk/.test(e.message));
});
