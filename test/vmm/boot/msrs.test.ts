import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootMsrs } from '../../../src/vmm/boot/msrs';

test('boot MSRs: system-call MSRs and TSC zero, fast strings on', () => {
  const msrs = new Map(bootMsrs().map((m) => [m.index, m.data]));
  for (const index of [0x174, 0x175, 0x176, 0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, 0xc0000102, 0x10]) {
    assert.equal(msrs.get(index), 0n, `0x${index.toString(16)}`);
  }
  assert.equal(msrs.get(0x1a0), 1n);
  assert.equal(msrs.size, bootMsrs().length, 'no MSR listed twice');
  assert.notEqual(bootMsrs(), bootMsrs(), 'a fresh list each call');
});
