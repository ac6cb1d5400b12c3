// Devices throw their own errors and know nothing of the config; where the machine makes them, an error about what
// a device entry asked for becomes a ConfigError naming that entry's field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TapError } from '../../src/devices/net/backend';
import { VsockError } from '../../src/devices/vsock/errors';
import { ConfigError } from '../../src/vmm/config';
import { deviceConfigError } from '../../src/vmm/virtio-devices';

test('a tap that cannot be opened names devices[N].tap', () => {
  const e = deviceConfigError(2, new TapError('EPERM', 'creating a tap: not permitted (EPERM)'));
  assert.ok(e instanceof ConfigError);
  assert.equal(e.field, 'devices[2].tap');
  assert.equal(e.message, 'devices[2].tap: creating a tap: not permitted (EPERM)');
});

test('a vsock socket path that is taken names devices[N].socket', () => {
  const e = deviceConfigError(0, new VsockError('EEXIST', '/tmp/v.sock already exists'));
  assert.ok(e instanceof ConfigError);
  assert.equal(e.field, 'devices[0].socket');
});

test('any other error passes unchanged', () => {
  const other = new Error('boom');
  assert.equal(deviceConfigError(1, other), other);
});
