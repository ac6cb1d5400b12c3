// The config schema's own rules: what its messages say about unions, missing and unknown keys; that its size
// pattern is the one units.ts reads; and that a validated config written back as input validates to itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, toConfigInput, validateConfig } from '../../src/vmm/config';
import { SIZE_PATTERN } from '../../src/vmm/config-schema';
import { exactSize } from '../../src/vmm/config-size';
import { GiB, KiB, MiB, parseSize, SizeError } from '../../src/vmm/units';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-schema-'));
fs.writeFileSync(path.join(dir, 'vmlinux'), 'kernel');
fs.writeFileSync(path.join(dir, 'disk.img'), Buffer.alloc(4096));
fs.mkdirSync(path.join(dir, 'share'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

function message(config: unknown): string {
  try {
    validateConfig(config, { baseDir: dir });
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  return 'accepted';
}

test('an unknown key is named before a missing one: a misspelt key is the likelier mistake', () => {
  assert.equal(message({ kernal: './vmlinux' }), 'kernal: unknown key (did you mean kernel?)');
  assert.equal(message({ kernel: './vmlinux', devices: [{ type: 'vsock', cdi: 3, socket: 'v.sock' }] }),
    'devices[0].cdi: unknown key (did you mean cid?)');
  assert.equal(message({ kernel: './vmlinux', devices: [{ type: 'vsock', socket: 'v.sock' }] }),
    'devices[0].cid: required');
  assert.equal(message({ vcpus: 2 }), 'kernel: required (e.g. @guest/vmlinux or ./vmlinux)');
});

test('unions: a nullable field is judged as its value, a device entry by its type', () => {
  assert.equal(message({ kernel: './vmlinux', initrd: null, devices: null }), 'accepted');
  assert.equal(message({ kernel: './vmlinux', initrd: 42 }), 'initrd: 42 is not a string');
  assert.equal(message({ kernel: './vmlinux', devices: ['rng'] }),
    'devices[0]: "rng" is not a mapping (type: ..., ...)');
  assert.equal(message({ kernel: './vmlinux', devices: [{ type: 'rng' }, { type: 7 }] }),
    'devices[1].type: 7 is not one of rng, console, blk, net, vsock, balloon, fs, input, iommu, gpu, scsi, crypto, snd');
  assert.equal(message({ kernel: './vmlinux', memory: -1 }), 'memory: -1 is not a size (use e.g. 512M, 2GiB)');
  assert.equal(message({ kernel: './vmlinux', memory: [] }), 'memory: a list is not a size (use e.g. 512M, 2GiB)');
});

test('strings: no NUL anywhere, empty paths refused, tags counted in bytes, patterns say what they want', () => {
  assert.equal(message({ kernel: './vmlinux', cmdline: 'a\0b' }), 'cmdline: "a\\u0000b" contains a NUL character');
  assert.equal(message({ kernel: '' }), 'kernel: must not be empty');
  const tag = 'é'.repeat(20);
  assert.equal(message({ kernel: './vmlinux', devices: [{ type: 'fs', tag, path: 'share' }] }),
    `devices[0].tag: "${tag}" is 40 bytes; at most 36 allowed`);
  assert.equal(message({ kernel: './vmlinux', devices: [{ type: 'net', tap: 'tap/0' }] }),
    'devices[0].tap: "tap/0" is not an interface name (printable ASCII without blanks, / or :)');
  assert.equal(message({ kernel: './vmlinux', devices: [{ type: 'net', tap: '' }] }), 'devices[0].tap: must not be empty');
});

test('the schema\'s size pattern accepts exactly the strings units.ts can read', () => {
  const pattern = new RegExp(SIZE_PATTERN);
  const samples = ['512', '512M', '512 MiB', ' 64 kb ', '1.5G', '4096B', '2gib', '1T', '3k', '0', '1.', '.5G', '64Q',
    '-1M', '1e3', 'M', '1 2M', '1.5.5G', '12 parsecs', '64MiBB', '5 B', '7i', '1Mi'];
  for (const s of samples) {
    let readable = true;
    try {
      parseSize(s);
    } catch (e) {
      assert.ok(e instanceof SizeError);
      readable = !/is not a size/.test(e.message);
    }
    assert.equal(pattern.test(s), readable, JSON.stringify(s));
  }
});

test('exactSize writes bytes in the largest unit that divides them, never rounded', () => {
  assert.deepEqual([256 * MiB, 2 * GiB, 32 * MiB + 4 * KiB, 1536, 512, 0].map(exactSize),
    ['256M', '2G', '32772K', '1536B', '512B', '0B']);
  for (const bytes of [256 * MiB, 32 * MiB + 4 * KiB, 1536]) assert.equal(parseSize(exactSize(bytes)), bytes);
});

test('a validated config written back as input validates to the same config', () => {
  const config = validateConfig({
    kernel: './vmlinux', memory: 32 + 4 / 1024, vcpus: 2, initrd: '@guest/initramfs.cpio',
    serial: { mode: 'file', path: 'serial.log' }, apiSocket: 'api.sock',
    devices: [
      { type: 'rng', rateLimit: 4096 }, { type: 'console', backend: 'socket', path: 'hvc.sock' },
      { type: 'blk', path: 'new.img', create: true, size: '1536B', serial: 'd0' },
      { type: 'blk', path: 'disk.img', rateLimiter: { ops: { size: 10, oneTimeBurst: 5, refillTime: 100 } } },
      { type: 'net', mac: '52:54:00:AA:bb:01', txRateLimiter: { bandwidth: { size: 4096, refillTime: 10 } } }, { type: 'vsock', cid: 9, socket: 'v.sock' },
      { type: 'balloon', targetMiB: 8 }, { type: 'fs', tag: 'share', path: 'share', readonly: true },
    ],
  }, { baseDir: dir });
  const input = toConfigInput(config);
  assert.equal(input.memory, '32772K');
  assert.equal((input.devices![2] as { size: string }).size, '1536B');
  // Another folder: every path in it is absolute.
  assert.deepEqual(validateConfig(JSON.parse(JSON.stringify(input)), { baseDir: os.tmpdir() }), config);
});
