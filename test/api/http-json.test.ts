import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { VmError, argRangeError } from '../../src/api/errors';
import { HttpError, httpErrorOf, sendJson } from '../../src/api/http-json';
import { ConfigError } from '../../src/vmm/config';

test('errors become statuses: the caller\'s mistakes 4xx, ours 500', () => {
  const status = (e: unknown): number => httpErrorOf(e).status;
  assert.deepEqual(httpErrorOf(new ConfigError('vcpus', 'bad')).body, { error: 'vcpus: bad', code: 'ERR_CONFIG', field: 'vcpus' });
  // The body carries the code the error has in the process; an error without one has none.
  const code = (e: unknown): unknown => httpErrorOf(e).body.code;
  assert.equal(code(new VmError('ERR_VM_NO_DEVICE', 'no balloon')), 'ERR_VM_NO_DEVICE');
  assert.equal(code(argRangeError('mib', '0..64', 99)), 'ERR_OUT_OF_RANGE');
  assert.equal(code(new VmError('ERR_VM_DISK', 'x', { cause: Object.assign(new Error('x'), { code: 'EBUSY' }) })), 'ERR_VM_DISK');
  assert.equal(code(new VmError('ERR_VM_BOOT', 'kernel: not an ELF')), 'ERR_VM_BOOT');
  assert.equal(code(Object.assign(new Error('open /dev/kvm failed'), { code: 'EACCES' })), 'EACCES');
  assert.equal(status(new HttpError(413, 'big')), 413);
  assert.equal(status(new VmError('ERR_VM_STATE', 'not now')), 409);
  assert.equal(status(new VmError('ERR_VM_NO_DEVICE', 'this machine has no balloon device')), 409);
  const disk = (errno: string): VmError =>
    new VmError('ERR_VM_DISK', 'x', { cause: Object.assign(new Error('x'), { code: errno }) });
  assert.equal(status(disk('ENODEV')), 404);
  assert.equal(status(disk('EINVAL')), 400);
  assert.equal(status(disk('EBUSY')), 409);
  assert.equal(status(argRangeError('mib', '0..64', 99)), 400);
  assert.equal(status(new VmError('ERR_VM_BOOT', 'kernel: not an ELF')), 400);
  assert.equal(status(new VmError('ERR_VM_KVM', '/dev/kvm does not exist (no KVM on this host?)')), 500);
  // A file the client named arrives as ConfigError / VmError naming the field; a bare errno error is the VMM's own
  // failure (KVM, mmap, /dev/kvm), whatever its code.
  assert.equal(status(disk('ENOENT')), 400);
  assert.equal(status(Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT', syscall: 'open' })), 500);
  assert.equal(status(Object.assign(new Error('mmap failed'), { code: 'EINVAL', syscall: 'mmap' })), 500);
  assert.equal(status(Object.assign(new Error('open /dev/kvm failed'), { code: 'EACCES', syscall: 'open' })), 500);
  assert.equal(status(new TypeError('cannot read properties of undefined')), 500, 'a bug of ours is not the client\'s fault');
  assert.equal(status(Object.assign(new Error('EBADF'), { code: 'EBADF', syscall: 'read' })), 500);
});

test('answers carry bigints as decimal strings, and a client gone before the answer breaks nothing', async () => {
  const server = http.createServer((req, res) => {
    if (req.url === '/gone') { res.destroy(); sendJson(res, 200, { late: true }); return; }
    sendJson(res, 200, { big: (1n << 60n) + 1n, small: 5 });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  try {
    const r = await fetch(`http://127.0.0.1:${port}/`);
    assert.deepEqual(await r.json(), { big: '1152921504606846977', small: 5 });
    await assert.rejects(fetch(`http://127.0.0.1:${port}/gone`));
  } finally {
    server.close();
  }
});
