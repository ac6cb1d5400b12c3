import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CONFIG_KEYS, ConfigError, DEFAULT_CMDLINE, parseConfigFile, readConfigFile, toConfigInput, validateConfig,
  type MachineConfig,
} from '../../src/vmm/config';
import { MiB, GiB } from '../../src/vmm/units';
import { DEVICE_TYPES } from '../../src/vmm/config-schema';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-config-'));
fs.writeFileSync(path.join(dir, 'vmlinux'), 'kernel');
fs.writeFileSync(path.join(dir, 'initrd.cpio'), 'initrd');
fs.writeFileSync(path.join(dir, 'disk.img'), Buffer.alloc(4096));
fs.mkdirSync(path.join(dir, 'share'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

const repoRoot = path.join(__dirname, '..', '..', '..');

function valid(extra: Record<string, unknown>): MachineConfig {
  return validateConfig({ kernel: './vmlinux', ...extra }, { baseDir: dir });
}

/** Asserts a ConfigError with this field and exactly this message. */
function rejects(extra: Record<string, unknown>, field: string, message: string): void {
  assert.throws(() => valid(extra), (e: unknown) => {
    assert.ok(e instanceof ConfigError, `not a ConfigError: ${String(e)}`);
    assert.equal(e.field, field);
    assert.equal(e.message, message);
    return true;
  });
}

test('defaults fill every field', () => {
  const c = valid({});
  assert.deepEqual(c, {
    vcpus: 1,
    memory: 256 * MiB,
    kernel: path.join(dir, 'vmlinux'),
    cmdline: DEFAULT_CMDLINE,
    boot: 'auto',
    serial: { mode: 'stdio' },
    log: { level: 'info' },
    quirks: 'auto',
    acpi: 'off',
    onHalt: 'end',
    devices: [],
  });
});

test('numbers, sizes and enums are checked with field and value in the message', () => {
  rejects({ vcpus: 0 }, 'vcpus', 'vcpus: 0 is out of range 1..254');
  rejects({ vcpus: 255 }, 'vcpus', 'vcpus: 255 is out of range 1..254');
  rejects({ vcpus: 1.5 }, 'vcpus', 'vcpus: 1.5 is not an integer');
  rejects({ vcpus: 'two' }, 'vcpus', 'vcpus: "two" is not an integer');
  rejects({ memory: '12 parsecs' }, 'memory', 'memory: "12 parsecs" is not a size (use e.g. 512M, 2GiB)');
  rejects({ memory: '16M' }, 'memory', 'memory: "16M" is out of range 32M..64G');
  rejects({ memory: 65 * 1024 }, 'memory', 'memory: 66560 is out of range 32M..64G');
  rejects({ memory: '33554433B' }, 'memory', 'memory: "33554433B" is not a multiple of 4 KiB');
  rejects({ boot: 'efi' }, 'boot', 'boot: "efi" is not one of auto, linux64, pvh');
  rejects({ quirks: true }, 'quirks', 'quirks: true is not one of auto, on, off');
  rejects({ acpi: 'yes' }, 'acpi', 'acpi: "yes" is not one of on, off');
  rejects({ log: { level: 'loud' } }, 'log.level',
    'log.level: "loud" is not one of trace, debug, info, warn, error, fatal, silent');
  rejects({ cmdline: 42 }, 'cmdline', 'cmdline: 42 is not a string');
});

test('memory: sizes and bare MiB numbers become bytes', () => {
  assert.equal(valid({ memory: 512 }).memory, 512 * MiB);
  assert.equal(valid({ memory: '2GiB' }).memory, 2 * GiB);
  assert.equal(valid({ memory: '64G' }).memory, 64 * GiB);
  assert.equal(valid({ memory: '32M' }).memory, 32 * MiB);
});

test('unknown keys are errors, with a suggestion when one is close', () => {
  rejects({ vcpu: 2 }, 'vcpu', 'vcpu: unknown key (did you mean vcpus?)');
  rejects({ zzz: 1 }, 'zzz', 'zzz: unknown key (known keys: vcpus, memory, kernel, initrd, cmdline, boot, serial, ' +
    'display, log, quirks, acpi, onHalt, devices, apiSocket)');
  rejects({ serial: { mode: 'stdio', colour: 1 } }, 'serial.colour',
    'serial.colour: unknown key (known keys: mode, path)');
  rejects({ devices: [{ type: 'rng' }, { type: 'blk', path: './disk.img', raedonly: true }] },
    'devices[1].raedonly', 'devices[1].raedonly: unknown key (did you mean readonly?)');
});

test('kernel and initrd: required, relative to the config folder, @guest/ names kept', () => {
  assert.throws(() => validateConfig({}, { baseDir: dir }), { message: 'kernel: required (e.g. @guest/vmlinux or ./vmlinux)' });
  rejects({ kernel: './nope' }, 'kernel', 'kernel: file not found: ./nope');
  rejects({ kernel: './share' }, 'kernel', 'kernel: ./share is a directory, not a file');
  rejects({ initrd: 'missing.cpio' }, 'initrd', 'initrd: file not found: missing.cpio');
  const c = valid({ initrd: 'initrd.cpio' });
  assert.equal(c.initrd, path.join(dir, 'initrd.cpio'));
  const g = validateConfig({ kernel: '@guest/vmlinux', initrd: '@guest/initramfs.cpio' }, { baseDir: dir });
  assert.equal(g.kernel, '@guest/vmlinux');
  assert.equal(g.initrd, '@guest/initramfs.cpio');
  rejects({ kernel: '@guest/../etc' }, 'kernel', 'kernel: "@guest/../etc" is not a guest artifact name');
});

test('serial: file mode needs a path in an existing folder', () => {
  assert.deepEqual(valid({ serial: { mode: 'file', path: 'out.log' } }).serial,
    { mode: 'file', path: path.join(dir, 'out.log') });
  assert.deepEqual(valid({ serial: { mode: 'none' } }).serial, { mode: 'none' });
  rejects({ serial: { mode: 'file' } }, 'serial.path', 'serial.path: required with mode: file');
  rejects({ serial: { mode: 'file', path: 'no/such/dir/out.log' } }, 'serial.path',
    'serial.path: directory not found: no/such/dir');
  rejects({ serial: { mode: 'stdio', path: 'x' } }, 'serial.path',
    'serial.path: only used with mode: file (mode is stdio)');
  rejects({ serial: { mode: 'tty' } }, 'serial.mode', 'serial.mode: "tty" is not one of stdio, file, none');
  rejects({ serial: 'stdio' }, 'serial', 'serial: "stdio" is not a mapping (key: value)');
});

test('devices: blk', () => {
  const [blk] = valid({ devices: [{ type: 'blk', path: 'disk.img', serial: 'disk-0' }] }).devices;
  assert.deepEqual(blk, { type: 'blk', path: path.join(dir, 'disk.img'), readonly: false, cache: 'writeback',
    create: false, serial: 'disk-0' });
  rejects({ devices: [{ type: 'blk', path: 'nope.img' }] }, 'devices[0].path',
    'devices[0].path: file not found: nope.img');
  rejects({ devices: [{ type: 'blk' }] }, 'devices[0].path', 'devices[0].path: required');
  rejects({ devices: [{ type: 'blk', path: 'disk.img', readonly: 'yes' }] }, 'devices[0].readonly',
    'devices[0].readonly: "yes" is not a boolean (use true or false)');
  rejects({ devices: [{ type: 'blk', path: 'disk.img', cache: 'none' }] }, 'devices[0].cache',
    'devices[0].cache: "none" is not one of unsafe, writeback');
  rejects({ devices: [{ type: 'blk', path: 'disk.img', serial: 'x'.repeat(21) }] }, 'devices[0].serial',
    `devices[0].serial: "${'x'.repeat(21)}" is 21 characters; at most 20 allowed`);
  rejects({ devices: [{ type: 'blk', path: 'disk.img', serial: 'dísk' }] }, 'devices[0].serial',
    'devices[0].serial: "dísk" is not printable ASCII');
  rejects({ devices: [{ type: 'blk', path: 'disk.img' }, { type: 'blk', path: './disk.img' }] }, 'devices[1]',
    `devices[1]: ${path.join(dir, 'disk.img')} is already attached (see devices[0])`);
});

test('devices: blk create', () => {
  const [blk] = valid({ devices: [{ type: 'blk', path: 'new.img', create: true, size: '8M' }] }).devices;
  assert.deepEqual(blk, { type: 'blk', path: path.join(dir, 'new.img'), readonly: false, cache: 'writeback',
    create: true, size: 8 * MiB });
  assert.equal(fs.existsSync(path.join(dir, 'new.img')), false, 'validation creates nothing');
  rejects({ devices: [{ type: 'blk', path: 'new.img', create: true }] }, 'devices[0].size',
    'devices[0].size: required with create: true when the image does not exist');
  rejects({ devices: [{ type: 'blk', path: 'disk.img', size: '8M' }] }, 'devices[0].size',
    'devices[0].size: only used with create: true');
  rejects({ devices: [{ type: 'blk', path: 'new.img', create: true, size: '1000B' }] }, 'devices[0].size',
    'devices[0].size: "1000B" is not a positive multiple of 512 bytes');
  rejects({ devices: [{ type: 'blk', path: 'new.img', create: true, size: 8, readonly: true }] }, 'devices[0].create',
    'devices[0].create: a disk created empty cannot be readonly');
  // An existing image with create: true needs no size.
  assert.equal(valid({ devices: [{ type: 'blk', path: 'disk.img', create: true }] }).devices.length, 1);
});

test('devices: rate limiters on blk and on each direction of net', () => {
  const limiter = { bandwidth: { size: 1048576, oneTimeBurst: 4194304, refillTime: 1000 }, ops: { size: 100, refillTime: 100 } };
  const [blk, net] = valid({ devices: [{ type: 'blk', path: 'disk.img', rateLimiter: limiter },
    { type: 'net', rxRateLimiter: { ops: { size: 1000, refillTime: 1000 } }, txRateLimiter: limiter }] }).devices;
  assert.deepEqual(blk, { type: 'blk', path: path.join(dir, 'disk.img'), readonly: false, cache: 'writeback',
    create: false, rateLimiter: limiter });
  assert.deepEqual(net, { type: 'net', rxRateLimiter: { ops: { size: 1000, refillTime: 1000 } }, txRateLimiter: limiter });
  const disk = (rateLimiter: unknown) => ({ devices: [{ type: 'blk', path: 'disk.img', rateLimiter }] });
  rejects(disk({ bandwidth: { size: 0, refillTime: 10 } }), 'devices[0].rateLimiter.bandwidth.size',
    'devices[0].rateLimiter.bandwidth.size: 0 is out of range 1..1099511627776');
  rejects(disk({ ops: { size: 10 } }), 'devices[0].rateLimiter.ops.refillTime',
    'devices[0].rateLimiter.ops.refillTime: required');
  rejects(disk({ ops: { size: 10, refillTime: 1.5 } }), 'devices[0].rateLimiter.ops.refillTime',
    'devices[0].rateLimiter.ops.refillTime: 1.5 is not an integer');
  rejects(disk({ ops: { size: 10, refillTime: 86_400_001 } }), 'devices[0].rateLimiter.ops.refillTime',
    'devices[0].rateLimiter.ops.refillTime: 86400001 is out of range 1..86400000');
  rejects(disk({ ops: { size: 10, refillTime: 10, oneTimeBurst: -1 } }), 'devices[0].rateLimiter.ops.oneTimeBurst',
    'devices[0].rateLimiter.ops.oneTimeBurst: -1 is out of range 0..1099511627776');
  rejects(disk({ bandwith: { size: 10, refillTime: 10 } }), 'devices[0].rateLimiter.bandwith',
    'devices[0].rateLimiter.bandwith: unknown key (did you mean bandwidth?)');
  rejects({ devices: [{ type: 'net', txRateLimiter: { ops: 5 } }] }, 'devices[0].txRateLimiter.ops',
    'devices[0].txRateLimiter.ops: 5 is not a mapping (key: value)');
  rejects({ devices: [{ type: 'net', rateLimiter: {} }] }, 'devices[0].rateLimiter',
    'devices[0].rateLimiter: unknown key (did you mean rxRateLimiter?)');
});

test('devices: rng, console, net', () => {
  assert.deepEqual(valid({ devices: [{ type: 'rng', rateLimit: 1024 }] }).devices, [{ type: 'rng', rateLimit: 1024 }]);
  rejects({ devices: [{ type: 'rng', rateLimit: 0 }] }, 'devices[0].rateLimit',
    'devices[0].rateLimit: 0 is out of range 1..4294967296');
  assert.deepEqual(valid({ devices: [{ type: 'console' }] }).devices, [{ type: 'console', backend: 'stdio' }]);
  assert.deepEqual(valid({ devices: [{ type: 'console', backend: 'file', path: 'hvc.log' }] }).devices,
    [{ type: 'console', backend: 'file', path: path.join(dir, 'hvc.log') }]);
  rejects({ devices: [{ type: 'console', backend: 'socket' }] }, 'devices[0].path',
    'devices[0].path: required for backend socket');
  rejects({ devices: [{ type: 'sound' }] }, 'devices[0].type',
    'devices[0].type: "sound" is not one of rng, console, blk, net, vsock, balloon, fs, input, iommu, gpu, scsi, crypto, snd');
  rejects({ devices: [{ path: 'x' }] }, 'devices[0].type',
    'devices[0].type: required (one of rng, console, blk, net, vsock, balloon, fs, input, iommu, gpu, scsi, crypto, snd)');
  rejects({ devices: { type: 'rng' } }, 'devices', 'devices: a mapping is not a list');
  assert.deepEqual(valid({ devices: [{ type: 'net', tap: 'tap0', mac: '52:54:00:AB:cd:01' }] }).devices,
    [{ type: 'net', tap: 'tap0', mac: '52:54:00:ab:cd:01' }]);
  rejects({ devices: [{ type: 'net', tap: 'a-very-long-tap-name' }] }, 'devices[0].tap',
    'devices[0].tap: "a-very-long-tap-name" is 20 characters; at most 15 allowed');
  rejects({ devices: [{ type: 'net', mac: '52:54:00:12:34' }] }, 'devices[0].mac',
    'devices[0].mac: "52:54:00:12:34" is not a MAC address (aa:bb:cc:dd:ee:ff)');
  rejects({ devices: [{ type: 'net', mac: '01:00:5e:00:00:01' }] }, 'devices[0].mac',
    'devices[0].mac: "01:00:5e:00:00:01" is a multicast address (the first byte must be even)');
});

test('devices: vsock, balloon, fs, input, iommu', () => {
  assert.deepEqual(valid({ devices: [{ type: 'vsock', cid: 3, socket: 'v.sock' }] }).devices,
    [{ type: 'vsock', cid: 3, socket: path.join(dir, 'v.sock') }]);
  rejects({ devices: [{ type: 'vsock', cid: 2, socket: 'v.sock' }] }, 'devices[0].cid',
    'devices[0].cid: 2 is out of range 3..4294967294');
  rejects({ devices: [{ type: 'vsock', cid: 3 }] }, 'devices[0].socket', 'devices[0].socket: required');
  const long = 'x'.repeat(120);
  assert.throws(() => valid({ devices: [{ type: 'vsock', cid: 3, socket: long }] }),
    /devices\[0\]\.socket: "x+" is \d+ bytes once resolved; a unix socket path allows 107/);
  const nearly = 'y'.repeat(107 - dir.length - 1 - 5);
  assert.throws(() => valid({ devices: [{ type: 'vsock', cid: 3, socket: nearly }] }),
    /devices\[0\]\.socket: "y+" is 102 bytes once resolved; with the "_4294967295" it is also used with/);
  rejects({ devices: [{ type: 'vsock', cid: 3, socket: 'a' }, { type: 'vsock', cid: 4, socket: 'b' }] },
    'devices[1]', 'devices[1]: a second vsock device (see devices[0])');
  assert.deepEqual(valid({ devices: [{ type: 'balloon' }] }).devices,
    [{ type: 'balloon', targetMiB: 0, deflateOnOom: false, statsInterval: 0 }]);
  rejects({ devices: [{ type: 'balloon', targetMiB: -1 }] }, 'devices[0].targetMiB',
    'devices[0].targetMiB: -1 is out of range 0..65536');
  rejects({ memory: '64M', devices: [{ type: 'rng' }, { type: 'balloon', targetMiB: 65 }] }, 'devices[1].targetMiB',
    "devices[1].targetMiB: 65 is more than the guest's 64 MiB of RAM");
  assert.deepEqual(valid({ devices: [{ type: 'fs', tag: 'share', path: 'share' }] }).devices,
    [{ type: 'fs', tag: 'share', path: path.join(dir, 'share'), readonly: false }]);
  rejects({ devices: [{ type: 'fs', tag: 'share', path: 'vmlinux' }] }, 'devices[0].path',
    'devices[0].path: vmlinux is not a directory');
  rejects({ devices: [{ type: 'fs', tag: 't'.repeat(37), path: 'share' }] }, 'devices[0].tag',
    `devices[0].tag: "${'t'.repeat(37)}" is 37 characters; at most 36 allowed`);
  rejects({ devices: [{ type: 'fs', tag: 'a', path: 'share' }, { type: 'fs', tag: 'a', path: '.' }] }, 'devices[1]',
    'devices[1]: fs tag "a" is already used (see devices[0])');
});

test('a config must be a mapping', () => {
  assert.throws(() => validateConfig([1, 2], { baseDir: dir }), ConfigError);
  assert.throws(() => validateConfig('kernel: x', { baseDir: dir }), /must be a mapping/);
});

test('parseConfigFile: YAML, paths relative to the file, one-line parse errors', () => {
  const sub = path.join(dir, 'sub');
  fs.mkdirSync(sub, { recursive: true });
  const file = path.join(sub, 'vm.yaml');
  fs.writeFileSync(file, 'vcpus: 2\nmemory: 1G\nkernel: ../vmlinux\ndevices:\n  - type: rng\n');
  const c = parseConfigFile(file);
  assert.equal(c.vcpus, 2);
  assert.equal(c.memory, GiB);
  assert.equal(c.kernel, path.join(dir, 'vmlinux'));
  assert.deepEqual(c.devices, [{ type: 'rng' }]);

  fs.writeFileSync(file, 'kernel: [a\n');
  assert.throws(() => parseConfigFile(file), (e: unknown) =>
    e instanceof ConfigError && e.message.startsWith(`${file}:2:1: `) && !e.message.includes('\n'));
  fs.writeFileSync(file, 'vcpus: 1\nvcpus: 2\n');
  assert.throws(() => parseConfigFile(file), /:2:1: Map keys must be unique/);
  fs.writeFileSync(file, '');
  assert.throws(() => parseConfigFile(file), /the config is empty/);
  assert.throws(() => readConfigFile(path.join(dir, 'absent.yaml')), /absent\.yaml: file not found/);
  fs.writeFileSync(file, 'readonly: yes\n');
  assert.throws(() => parseConfigFile(file), /readonly: unknown key/);
});

test('a gpu: 1024 x 768 and one scanout by default; sizes and scanouts within their limits; at most one', () => {
  assert.deepEqual(valid({ devices: [{ type: 'gpu' }] }).devices, [{ type: 'gpu', width: 1024, height: 768, scanouts: 1 }]);
  const big = { type: 'gpu', width: 7680, height: 4320, scanouts: 16 };
  assert.deepEqual(valid({ devices: [big] }).devices, [big]);
  assert.deepEqual(validateConfig(toConfigInput(valid({ devices: [big] })), { baseDir: dir }).devices, [big]);
  rejects({ devices: [{ type: 'rng' }, { type: 'gpu', width: 15 }] }, 'devices[1].width',
    'devices[1].width: 15 is out of range 16..7680');
  rejects({ devices: [{ type: 'gpu', height: 4321 }] }, 'devices[0].height', 'devices[0].height: 4321 is out of range 16..4320');
  rejects({ devices: [{ type: 'gpu', scanouts: 17 }] }, 'devices[0].scanouts', 'devices[0].scanouts: 17 is out of range 1..16');
  rejects({ devices: [{ type: 'gpu', scanouts: 0 }] }, 'devices[0].scanouts', 'devices[0].scanouts: 0 is out of range 1..16');
  assert.throws(() => valid({ devices: [{ type: 'gpu', width: 800.5 }] }),
    (e: unknown) => e instanceof ConfigError && e.field === 'devices[0].width');
  assert.throws(() => valid({ devices: [{ type: 'gpu', depth: 32 }] }),
    (e: unknown) => e instanceof ConfigError && e.field === 'devices[0].depth' && /unknown key/.test(e.message));
  rejects({ devices: [{ type: 'gpu' }, { type: 'gpu' }] }, 'devices[1]', 'devices[1]: a second gpu device (see devices[0])');
});

test('a crypto device: 256 sessions by default, 1..65536; at most one', () => {
  assert.deepEqual(valid({ devices: [{ type: 'crypto' }] }).devices, [{ type: 'crypto', maxSessions: 256 }]);
  const c = valid({ devices: [{ type: 'crypto', maxSessions: 65536 }] });
  assert.deepEqual(c.devices, [{ type: 'crypto', maxSessions: 65536 }]);
  assert.deepEqual(validateConfig(toConfigInput(c), { baseDir: dir }).devices, c.devices);
  rejects({ devices: [{ type: 'crypto', maxSessions: 0 }] }, 'devices[0].maxSessions',
    'devices[0].maxSessions: 0 is out of range 1..65536');
  assert.throws(() => valid({ devices: [{ type: 'crypto', algorithms: ['aes'] }] }),
    (e: unknown) => e instanceof ConfigError && e.field === 'devices[0].algorithms' && /unknown key/.test(e.message));
  rejects({ devices: [{ type: 'crypto' }, { type: 'crypto' }] }, 'devices[1]',
    'devices[1]: a second crypto device (see devices[0])');
});

test('configs/example.yaml documents a valid config with every device type', () => {
  const example = path.join(repoRoot, 'configs', 'example.yaml');
  const c = parseConfigFile(example);
  assert.deepEqual(new Set(c.devices.map((d) => d.type)),
    new Set(DEVICE_TYPES));
  // Every top-level key of MachineConfig appears in the example, set or commented.
  const text = fs.readFileSync(example, 'utf8');
  for (const key of CONFIG_KEYS) {
    assert.match(text, new RegExp(`^#? ?${key}:`, 'm'), key);
  }
});

test('an iommu device: at most one, only with acpi: on, and devices say iommu: true to sit behind it', () => {
  const c = valid({ acpi: 'on', devices: [{ type: 'rng', iommu: true }, { type: 'iommu' }, { type: 'rng' }] });
  assert.deepEqual(c.devices, [{ type: 'rng', iommu: true }, { type: 'iommu' }, { type: 'rng' }]);
  assert.deepEqual(validateConfig(toConfigInput(c), { baseDir: dir }).devices, c.devices);
  rejects({ devices: [{ type: 'iommu' }] }, 'acpi',
    'acpi: off, but devices[0] is an iommu, which needs acpi: on (the guest finds it in the VIOT table)');
  rejects({ acpi: 'on', devices: [{ type: 'iommu' }, { type: 'iommu' }] }, 'devices[1]',
    'devices[1]: a second iommu device (see devices[0])');
  rejects({ acpi: 'on', devices: [{ type: 'rng', iommu: true }] }, 'devices[0].iommu',
    'devices[0].iommu: the machine has no iommu device (add { type: iommu })');
  assert.throws(() => valid({ acpi: 'on', devices: [{ type: 'iommu', iommu: true }] }),
    (e: unknown) => e instanceof ConfigError && e.field === 'devices[0].iommu' && /unknown key/.test(e.message));
  rejects({ acpi: 'on', devices: [{ type: 'iommu' }, { type: 'rng', iommu: 'yes' }] }, 'devices[1].iommu',
    'devices[1].iommu: "yes" is not a boolean (use true or false)');
});

test('display: mode web with a port (0: a free one) needs a gpu device; none by default, port only with web', () => {
  const gpu = [{ type: 'gpu' }];
  assert.equal(valid({}).display, undefined);
  assert.equal(valid({ display: { mode: 'none' } }).display, undefined);
  const c = valid({ display: { mode: 'web' }, devices: gpu });
  assert.deepEqual(c.display, { mode: 'web', port: 0 });
  assert.deepEqual(valid({ display: { mode: 'web', port: 8080 }, devices: gpu }).display, { mode: 'web', port: 8080 });
  assert.deepEqual(validateConfig(toConfigInput(c), { baseDir: dir }).display, c.display);
  rejects({ display: { mode: 'web' } }, 'display.mode',
    'display.mode: web needs a gpu device to show (add {type: gpu} to devices)');
  rejects({ display: { port: 80 } }, 'display.port', 'display.port: only used with mode: web (mode is none)');
  rejects({ display: { mode: 'web', port: 65536 }, devices: gpu }, 'display.port', 'display.port: 65536 is out of range 0..65535');
  rejects({ display: { mode: 'vnc' } }, 'display.mode', 'display.mode: "vnc" is not one of none, web');
  rejects({ display: 'web' }, 'display', 'display: "web" is not a mapping (key: value)');
});
