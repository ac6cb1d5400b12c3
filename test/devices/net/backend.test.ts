import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tapOffloads } from '../../../src/devices/net/backend';
import { NET_F } from '../../../src/devices/net/virtio-net';
import { native } from '../../../src/base/native';

const f = (...bits: number[]): bigint => bits.reduce((m, b) => m | (1n << BigInt(b)), 0n);

test('tap offloads follow what the guest accepts, and never TSO without checksum offload', () => {
  const c = native().constants;
  assert.equal(tapOffloads(0n), 0);
  assert.equal(tapOffloads(f(NET_F.GUEST_TSO4, NET_F.GUEST_TSO6, NET_F.GUEST_ECN)), 0);
  assert.equal(tapOffloads(f(NET_F.GUEST_CSUM)), c.TUN_F_CSUM);
  assert.equal(tapOffloads(f(NET_F.GUEST_CSUM, NET_F.GUEST_TSO4, NET_F.GUEST_TSO6, NET_F.GUEST_ECN)),
    c.TUN_F_CSUM | c.TUN_F_TSO4 | c.TUN_F_TSO6 | c.TUN_F_TSO_ECN);
  assert.equal(tapOffloads(f(NET_F.GUEST_CSUM, NET_F.GUEST_ECN)), c.TUN_F_CSUM, 'ECN only with TSO');
  assert.equal(tapOffloads(f(NET_F.CSUM, NET_F.HOST_TSO4)), 0, 'host-side offloads are not the tap reader\'s');
});
