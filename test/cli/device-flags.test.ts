// Devices given as `tsvmm run` options become the devices the YAML file would give, after the file's own, and
// errors about them name the option.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { main } from '../../src/cli';
import { deviceArgs, parseDeviceArg, separateBareDeviceFlags } from '../../src/cli/device-flags';
import { validateConfig, type MachineConfig } from '../../src/vmm/config';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-devflags-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
fs.writeFileSync(path.join(dir, 'vmlinux'), 'k');
fs.writeFileSync(path.join(dir, 'a.img'), Buffer.alloc(4096));
fs.writeFileSync(path.join(dir, 'b.img'), Buffer.alloc(4096));
fs.mkdirSync(path.join(dir, 'share'));
fs.mkdirSync(path.join(dir, 'vm'));
fs.writeFileSync(path.join(dir, 'vm', 'vm.yaml'), 'kernel: ../vmlinux\ndevices:\n  - type: rng\n');

async function run(argv: string[]): Promise<{ status: number; err: string; config?: MachineConfig }> {
  let err = '';
  let config: MachineConfig | undefined;
  const status = await main(['run', ...argv], {
    cwd: dir,
    stderr: { write: (s: string) => { err += s; } },
    createLogger: () => pino({ level: 'silent' }),
    runMachine: async (c) => { config = c; return 0; },
  });
  return { status, err, ...(config ? { config } : {}) };
}

test('device options: the same devices as in YAML, after the file\'s, in command-line order', async () => {
  const r = await run(['vm/vm.yaml', '--disk', 'path=a.img,readonly', '--net', '--fs', 'tag=share,path=share',
    '--disk=path=b.img,cache=unsafe,serial=disk2', '--vsock', 'cid=3,socket=v.sock',
    '--balloon', 'targetMiB=16,deflateOnOom', '--rng']);
  assert.equal(r.status, 0, r.err);
  const yaml = validateConfig({
    kernel: 'vmlinux',
    devices: [
      { type: 'rng' },
      { type: 'blk', path: 'a.img', readonly: true },
      { type: 'net' },
      { type: 'fs', tag: 'share', path: 'share' },
      { type: 'blk', path: 'b.img', cache: 'unsafe', serial: 'disk2' },
      { type: 'vsock', cid: 3, socket: 'v.sock' },
      { type: 'balloon', targetMiB: 16, deflateOnOom: true },
      { type: 'rng' },
    ],
  }, { baseDir: dir });
  assert.deepEqual(r.config!.devices, yaml.devices);
});

test('device options alone, without a config file; a bare --rng does not take the config file', async () => {
  const r = await run(['--kernel', 'vmlinux', '--disk', 'path=a.img,create,size=1']);
  assert.equal(r.status, 0, r.err);
  const disk = { type: 'blk', path: path.join(dir, 'a.img'), readonly: false, cache: 'writeback', create: true };
  assert.deepEqual(r.config!.devices, [{ ...disk, size: 1024 * 1024 }]);
  const bare = await run(['--rng', 'vm/vm.yaml', '--net', 'tap=tap3,mac=02:00:00:00:00:01']);
  assert.equal(bare.status, 0, bare.err);
  assert.deepEqual(bare.config!.devices, [{ type: 'rng' }, { type: 'rng' },
    { type: 'net', tap: 'tap3', mac: '02:00:00:00:00:01' }]);
});

test('errors name the option and key: one line, status 2', async () => {
  const cases: [string[], string][] = [
    [['--disk', 'path=a.img,readnly'], 'tsvmm: --disk.readnly: unknown key (did you mean readonly?)\n'],
    [['--disk', 'path=nope.img'], `tsvmm: --disk.path: file not found: ${path.join(dir, 'nope.img')}\n`],
    [['--disk', 'path=a.img', '--disk', 'path=a.img'],
      `tsvmm: --disk[1]: ${path.join(dir, 'a.img')} is already attached (see --disk[0])\n`],
    [['--disk', 'path=a.img,readonly=maybe'], 'tsvmm: --disk.readonly: "maybe" is not a boolean (use true or false)\n'],
    [['--disk', 'path=a.img,path=b.img'], 'tsvmm: --disk.path: given twice\n'],
    [['--disk'], 'tsvmm: --disk.path: required\n'],
    [['--vsock', 'cid=2,socket=v.sock'], 'tsvmm: --vsock.cid: 2 is out of range 3..4294967294\n'],
    [['--vsock', 'cid=3,socket=v.sock', '--vsock', 'cid=4,socket=w.sock'],
      'tsvmm: --vsock[1]: a second vsock device (see --vsock[0])\n'],
    [['--fs', 'tag=x,path=share,type=blk'], 'tsvmm: --fs.type: the option --fs sets it (fs)\n'],
    [['--net', 'tap'], 'tsvmm: --net.tap: needs a value (key=value)\n'],
  ];
  for (const [argv, line] of cases) {
    const r = await run(['--kernel', 'vmlinux', ...argv]);
    assert.equal(r.status, 2, argv.join(' '));
    assert.equal(r.err, line, argv.join(' '));
  }
  // A device of the file keeps its own name.
  fs.writeFileSync(path.join(dir, 'vm', 'bad.yaml'),
    'kernel: ../vmlinux\ndevices:\n  - type: blk\n    path: ../nope\n');
  assert.equal((await run(['vm/bad.yaml', '--rng'])).err, 'tsvmm: devices[0].path: file not found: ../nope\n');
  const socket = await run(['--api-sock', 'api.sock', '--rng']);
  assert.equal(socket.err, 'tsvmm: --rng: needs a config file or --kernel (with --api-sock alone the machine config ' +
    'comes through the socket)\n');
});

test('parsing: bare keys, booleans, numbers, paths from the current directory', () => {
  const balloon = { flag: 'balloon', text: 'targetMiB=8,deflateOnOom=off,statsInterval=5' };
  assert.deepEqual(parseDeviceArg(balloon, '--balloon', dir),
    { type: 'balloon', targetMiB: 8, deflateOnOom: false, statsInterval: 5 });
  assert.deepEqual(parseDeviceArg({ flag: 'disk', text: 'path=x/y.img,serial=0123,size=2G' }, '--disk', dir),
    { type: 'blk', path: path.join(dir, 'x', 'y.img'), serial: '0123', size: '2G' });
  assert.deepEqual(separateBareDeviceFlags(['--rng', 'vm.yaml', '--net', 'tap=t0', '--balloon', '--', '--rng']),
    ['--rng=', 'vm.yaml', '--net', 'tap=t0', '--balloon=', '--', '--rng']);
  assert.deepEqual(deviceArgs({ disk: ['a', 'b'], net: '' }, ['--disk', 'a', '--net=', '--disk=b']),
    [{ flag: 'disk', text: 'a' }, { flag: 'net', text: '' }, { flag: 'disk', text: 'b' }]);
});

test('--display web[:PORT] with a gpu; without one the error names the field', async () => {
  fs.writeFileSync(path.join(dir, 'vm', 'gpu.yaml'), 'kernel: ../vmlinux\ndevices:\n  - type: gpu\n');
  const r = await run(['vm/gpu.yaml', '--display', 'web:0']);
  assert.equal(r.status, 0, r.err);
  assert.deepEqual(r.config!.display, { mode: 'web', port: 0 });
  const none = await run(['--kernel', 'vmlinux', '--display', 'web']);
  assert.notEqual(none.status, 0);
  assert.match(none.err, /display\.mode: web needs a gpu device/);
});
