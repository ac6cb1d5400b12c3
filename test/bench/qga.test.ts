import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { qgaDeviceArgs, sharedLibraries } from '../../bench/qga';

describe('bench qemu-ga image', () => {
  it('takes the libraries and the loader from ldd, and skips the vDSO', () => {
    const ldd = [
      '\tlinux-vdso.so.1 (0x00007ffd5b1e9000)',
      '\tlibglib-2.0.so.0 => /lib/x86_64-linux-gnu/libglib-2.0.so.0 (0x00007f0a1c000000)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0a1be00000)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f0a1c1f0000)',
      '',
    ].join('\n');
    assert.deepEqual(sharedLibraries(ldd), [
      '/lib/x86_64-linux-gnu/libglib-2.0.so.0', '/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2',
    ]);
  });

  it('puts the agent on a named virtio-serial port behind a listening unix socket', () => {
    const args = qgaDeviceArgs('/run/q.sock').join(' ');
    assert.match(args, /virtio-serial-device/);
    assert.match(args, /socket,id=qga0,path=\/run\/q\.sock,server=on,wait=off/);
    assert.match(args, /virtserialport,chardev=qga0,name=org\.qemu\.guest_agent\.0/);
  });
});
