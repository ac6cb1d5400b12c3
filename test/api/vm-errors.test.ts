// What the machine underneath a Vm throws reaches the caller as the API's own errors: a VmError whose code says
// what kind of failure it was, the original as its cause; a ConfigError stays one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VmError } from '../../src/api/errors';
import { vmErrorOf } from '../../src/api/vm';
import { BootError } from '../../src/vmm/boot/errors';
import { ConfigError } from '../../src/vmm/config';
import { KvmError } from '../../src/vmm/kvm-vm';
import { DeviceOpError } from '../../src/vmm/virtio-devices';

function mapped(e: Error): VmError {
  const out = vmErrorOf(e);
  assert.ok(out instanceof VmError, `${e.name} becomes a VmError`);
  assert.equal(out.message, e.message);
  assert.equal(out.cause, e);
  return out;
}

test('no usable KVM is ERR_VM_KVM, with the errno on its cause', () => {
  const e = mapped(new KvmError('/dev/kvm does not exist (no KVM on this host?)', 'ENOENT'));
  assert.equal(e.code, 'ERR_VM_KVM');
  assert.equal((e.cause as KvmError).code, 'ENOENT');
});

test('a kernel that cannot be booted is ERR_VM_BOOT', () => {
  assert.equal(mapped(new BootError('kernel: not an ELF64 x86_64 file or a bzImage')).code, 'ERR_VM_BOOT');
});

test('a disk swap that fails is ERR_VM_DISK, with the errno on its cause', () => {
  const e = mapped(new DeviceOpError('devices[1]: /d.img is already attached as devices[0]', 'EBUSY'));
  assert.equal(e.code, 'ERR_VM_DISK');
  assert.equal((e.cause as DeviceOpError).code, 'EBUSY');
});

test('ConfigError and anything else pass unchanged', () => {
  const config = new ConfigError('kernel', 'ENOENT: no such file');
  assert.equal(vmErrorOf(config), config);
  const other = new TypeError('x');
  assert.equal(vmErrorOf(other), other);
});
