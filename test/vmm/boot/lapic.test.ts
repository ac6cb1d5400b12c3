import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setLintWiring, withDeliveryMode } from '../../../src/vmm/boot/lapic';

test('LINT0 becomes ExtINT and LINT1 NMI, other bits kept', () => {
  const state = Buffer.alloc(1024);
  state.writeUInt32LE(0x0001_0000, 0x350); // masked, fixed mode: KVM's reset value
  state.writeUInt32LE(0x0001_a700, 0x360); // masked, level, remote IRR... and mode 7
  state.writeUInt32LE(0xdeadbeef, 0x340);
  const out = setLintWiring(state);
  assert.equal(out, state, 'changed in place');
  assert.equal(state.readUInt32LE(0x350), 0x0001_0700);
  assert.equal(state.readUInt32LE(0x360), 0x0001_a400);
  assert.equal(state.readUInt32LE(0x340), 0xdeadbeef, 'neighbours untouched');
});

test('withDeliveryMode only touches bits 10:8, and short buffers are refused', () => {
  assert.equal(withDeliveryMode(0xffffffff, 0), 0xfffff8ff);
  assert.equal(withDeliveryMode(0, 4), 0x400);
  assert.throws(() => setLintWiring(new Uint8Array(512)), RangeError);
});
