// Paths a config must not accept: devices and kernel interfaces as kernel, initrd or disk, one file used twice
// in ways that hurt, and a control socket where the guest's vsock connections land.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, configWarnings, validateConfig } from '../../src/vmm/config';
import { GiB } from '../../src/vmm/units';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-paths-'));
fs.writeFileSync(path.join(dir, 'vmlinux'), 'kernel');
fs.writeFileSync(path.join(dir, 'disk.img'), Buffer.alloc(4096));
fs.symlinkSync(path.join(dir, 'disk.img'), path.join(dir, 'disk-link.img'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

function rejects(config: Record<string, unknown>, field: string, message: RegExp): void {
  assert.throws(() => validateConfig({ kernel: './vmlinux', ...config }, { baseDir: dir }), (e: unknown) => {
    assert.ok(e instanceof ConfigError, `not a ConfigError: ${String(e)}`);
    assert.equal(e.field, field);
    assert.match(e.message, message);
    return true;
  });
}

test('kernel, initrd and disks are regular files: devices, FIFOs and kernel interfaces are refused', () => {
  const fifo = path.join(dir, 'image.fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const cases: [string, RegExp][] = [
    ['/dev/zero', /^FIELD: \/dev\/zero is a character device, not a regular file$/],
    ['/dev/null', /^FIELD: \/dev\/null is a character device, not a regular file$/],
    ['/proc/self/mem', /^FIELD: \/proc\/self\/mem is on proc, a kernel interface, not a regular file$/],
    [fifo, /is a FIFO, not a regular file$/],
  ];
  for (const [file, message] of cases) {
    const named = (field: string): RegExp => new RegExp(message.source.replace('FIELD', field.replace(/[[\]]/g, '\\$&')));
    rejects({ kernel: file }, 'kernel', named('kernel'));
    rejects({ initrd: file }, 'initrd', named('initrd'));
    rejects({ devices: [{ type: 'blk', path: file }] }, 'devices[0].path', named('devices[0].path'));
    rejects({ devices: [{ type: 'blk', path: file, create: true, size: '1M' }] }, 'devices[0].path',
      named('devices[0].path'));
  }
  rejects({ devices: [{ type: 'blk', path: '/sys/kernel/mm/transparent_hugepage/enabled' }] }, 'devices[0].path',
    /is on sysfs, a kernel interface/);
});

test('the serial log or a console log over a disk image is refused, through a symlink too', () => {
  const disk = { type: 'blk', path: './disk.img' };
  rejects({ devices: [disk], serial: { mode: 'file', path: './disk.img' } }, 'serial.path',
    /^serial\.path: .*disk\.img is also devices\[0\]\.path \(a disk image\)$/);
  rejects({ devices: [disk], serial: { mode: 'file', path: './disk-link.img' } }, 'serial.path',
    /is also devices\[0\]\.path/);
  rejects({ devices: [{ type: 'console', backend: 'file', path: './disk.img' }, disk] }, 'devices[0].path',
    /is also devices\[1\]\.path \(a disk image\)$/);
  // Serial and virtio console output may share one log.
  const c = validateConfig({
    kernel: './vmlinux', serial: { mode: 'file', path: './vm.log' },
    devices: [{ type: 'console', backend: 'file', path: './vm.log' }],
  }, { baseDir: dir });
  assert.equal(c.serial.path, path.join(dir, 'vm.log'));
});

test('apiSocket is neither a vsock socket nor where guest vsock connections go', () => {
  const vsock = { type: 'vsock', cid: 3, socket: './v.sock' };
  rejects({ devices: [vsock], apiSocket: './v.sock' }, 'apiSocket',
    /^apiSocket: .*v\.sock is also devices\[0\]\.socket \(a socket\)$/);
  rejects({ devices: [vsock], apiSocket: './v.sock_1234' }, 'apiSocket',
    /^apiSocket: .*v\.sock_1234 is where guest connections to vsock port 1234 go/);
  rejects({ devices: [{ type: 'console', backend: 'socket', path: './c.sock' }], apiSocket: './c.sock' },
    'apiSocket', /is also devices\[0\]\.path \(a socket\)$/);
  const ok = validateConfig({ kernel: './vmlinux', devices: [vsock], apiSocket: './v.sock_api' }, { baseDir: dir });
  assert.equal(ok.apiSocket, path.join(dir, 'v.sock_api'));
});

test('memory beyond the host\'s RAM is a warning, not an error', () => {
  const c = validateConfig({ kernel: './vmlinux', memory: '8G' }, { baseDir: dir });
  assert.deepEqual(configWarnings(c, 16 * GiB), []);
  assert.deepEqual(configWarnings(c, 4 * GiB),
    ['memory: 8 GiB is more than this host\'s 4 GiB of RAM; the guest may be killed for memory once it uses it']);
});
