import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { VmError } from '../src/api/errors';
import { main, type CliDeps } from '../src/cli';
import type { MachineConfig } from '../src/vmm/config';
import { MiB } from '../src/vmm/units';
import { BIN as bin, REPO } from './helpers/cli-run';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-cli-'));
const work = path.join(dir, 'work');
fs.mkdirSync(path.join(dir, 'vm'));
fs.mkdirSync(work);
fs.writeFileSync(path.join(dir, 'vm', 'vmlinux'), 'k');
fs.writeFileSync(path.join(work, 'other-kernel'), 'k2');
fs.writeFileSync(path.join(dir, 'vm', 'vm.yaml'), 'vcpus: 1\nkernel: ./vmlinux\ncmdline: console=ttyS0\n');
fs.writeFileSync(path.join(dir, 'vm', 'bad.yaml'), 'vcpus: 0\nkernel: ./vmlinux\n');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

interface Harness {
  deps: CliDeps;
  runs: (MachineConfig | undefined)[];
  sockets: (string | undefined)[];
  err: string[];
  out: string[];
}

function harness(status = 0): Harness {
  const h: Harness = { runs: [], sockets: [], err: [], out: [], deps: {} };
  h.deps = {
    cwd: work,
    stderr: { write: (s: string) => h.err.push(s) },
    stdout: { write: (s: string) => h.out.push(s) },
    createLogger: () => pino({ level: 'silent' }),
    runMachine: async (config, opts) => {
      h.runs.push(config);
      h.sockets.push(opts.apiSocket);
      return status;
    },
  };
  return h;
}

test('run: the config reaches runMachine and its status is the exit status', async () => {
  const h = harness(3);
  assert.equal(await main(['run', '../vm/vm.yaml'], h.deps), 3);
  assert.equal(h.runs.length, 1);
  assert.equal(h.runs[0]!.kernel, path.join(dir, 'vm', 'vmlinux'));
  assert.equal(h.runs[0]!.cmdline, 'console=ttyS0');
  assert.deepEqual(h.err, []);
});

test('run: options override the file; option paths start at the current directory', async () => {
  const h = harness();
  const status = await main(['run', '../vm/vm.yaml', '--vcpus', '2', '--memory', '1G', '--kernel', 'other-kernel',
    '--cmdline', 'console=hvc0', '--append', 'quiet', '--append', 'loglevel=3', '--serial', 'file:console.log',
    '--log-level', 'debug', '--api-sock', 'api.sock'], h.deps);
  assert.equal(status, 0, h.err.join(''));
  const c = h.runs[0]!;
  assert.equal(c.vcpus, 2);
  assert.equal(c.memory, 1024 * MiB);
  assert.equal(c.kernel, path.join(work, 'other-kernel'));
  assert.equal(c.cmdline, 'console=hvc0 quiet loglevel=3');
  assert.deepEqual(c.serial, { mode: 'file', path: path.join(work, 'console.log') });
  assert.equal(c.log.level, 'debug');
  assert.equal(c.apiSocket, path.join(work, 'api.sock'));
});

test('run: --append alone extends the file\'s cmdline; no config file needs --kernel', async () => {
  const h = harness();
  await main(['run', '../vm/vm.yaml', '--append', 'init=/bin/sh'], h.deps);
  assert.equal(h.runs[0]!.cmdline, 'console=ttyS0 init=/bin/sh');
  assert.equal(await main(['run', '--kernel', '@guest/vmlinux', '--serial', 'none'], h.deps), 0);
  assert.equal(h.runs[1]!.kernel, '@guest/vmlinux');
  assert.deepEqual(h.runs[1]!.serial, { mode: 'none' });
  assert.equal(h.runs[1]!.cmdline, 'console=ttyS0 reboot=k panic=-1');
});

test('run --api-sock alone: no config, the machine comes through the socket; machine options are refused', async () => {
  const h = harness();
  assert.equal(await main(['run', '--api-sock', 'api.sock', '--log-level', 'debug'], h.deps), 0, h.err.join(''));
  assert.deepEqual(h.runs, [undefined]);
  assert.deepEqual(h.sockets, [path.join(work, 'api.sock')]);
  const bad = harness();
  assert.equal(await main(['run', '--api-sock', 'api.sock', '--memory', '1G'], bad.deps), 2);
  assert.deepEqual(bad.err, ['tsvmm: --memory: needs a config file or --kernel (with --api-sock alone the machine ' +
    'config comes through the socket)\n']);
  assert.equal(await main(['run', '--api-sock', 'nowhere/api.sock'], bad.deps), 2);
  assert.match(bad.err[1]!, /^tsvmm: --api-sock: directory not found: nowhere/);
  assert.equal(bad.runs.length, 0);
});

test('config and usage errors: exactly one line on stderr, status 2, nothing run', async () => {
  const cases: [string[], string][] = [
    [['run', '../vm/bad.yaml'], 'tsvmm: vcpus: 0 is out of range 1..254\n'],
    [['run', '../vm/vm.yaml', '--memory', '12 parsecs'],
      'tsvmm: memory: "12 parsecs" is not a size (use e.g. 512M, 2GiB)\n'],
    [['run', '../vm/vm.yaml', '--kernel', './nope'], 'tsvmm: --kernel: file not found: ./nope\n'],
    [['run', '../vm/vm.yaml', '--serial', 'tty'], 'tsvmm: --serial: "tty" is not one of stdio, none, file:PATH\n'],
    [['run', '../vm/vm.yaml', '--vcpus', 'many'], 'tsvmm: vcpus: "many" is not an integer\n'],
    [['run', 'missing.yaml'], `tsvmm: config ${path.join(work, 'missing.yaml')}: file not found\n`],
    [['run'], 'tsvmm: kernel: required (e.g. @guest/vmlinux or ./vmlinux)\n'],
    [['run', '../vm/vm.yaml', '--frobnicate'], 'tsvmm: run: unknown option --frobnicate\n'],
    [[], 'tsvmm: name a command (run, exec, sandbox, guest, image, doctor or completion); see tsvmm --help\n'],
    [['guest'], 'tsvmm: guest: name a subcommand (build or path)\n'],
  ];
  for (const [argv, line] of cases) {
    const h = harness();
    assert.equal(await main(argv, h.deps), 2, argv.join(' '));
    assert.deepEqual(h.err, [line], argv.join(' '));
    assert.equal(h.runs.length, 0);
  }
  const h = harness();
  assert.equal(await main(['run', '../vm/vm.yaml', '--log-level', 'loud'], h.deps), 2);
  assert.equal(h.err.length, 1);
  assert.match(h.err[0]!, /^tsvmm: Invalid values: Argument: log-level, Given: "loud", Choices: .*\n$/);
});

test('an internal error from the runner: one line, status 1', async () => {
  const h = harness();
  h.deps.runMachine = async () => {
    throw Object.assign(new Error('open /dev/kvm failed'), { code: 'EACCES' });
  };
  assert.equal(await main(['run', '../vm/vm.yaml'], h.deps), 1);
  assert.deepEqual(h.err, ['tsvmm: EACCES: open /dev/kvm failed\n']);
});

test('a kernel that cannot boot is the user\'s mistake (2); no KVM is ours (1, with its errno)', async () => {
  const boot = harness();
  boot.deps.runMachine = async () => {
    throw new VmError('ERR_VM_BOOT', 'kernel: not an ELF64 x86_64 file or a bzImage');
  };
  assert.equal(await main(['run', '../vm/vm.yaml'], boot.deps), 2);
  assert.deepEqual(boot.err, ['tsvmm: kernel: not an ELF64 x86_64 file or a bzImage\n']);
  const kvm = harness();
  kvm.deps.runMachine = async () => {
    throw new VmError('ERR_VM_KVM', '/dev/kvm does not exist (no KVM on this host?)',
      { cause: Object.assign(new Error('open'), { code: 'ENOENT' }) });
  };
  assert.equal(await main(['run', '../vm/vm.yaml'], kvm.deps), 1);
  assert.deepEqual(kvm.err, ['tsvmm: ENOENT: /dev/kvm does not exist (no KVM on this host?)\n']);
});

test('guest build and guest path delegate to the guest module', async () => {
  const h = harness();
  const calls: unknown[] = [];
  const artifacts = path.join(dir, 'artifacts');
  fs.mkdirSync(artifacts, { recursive: true });
  for (const n of ['vmlinux', 'bzImage', 'initramfs.cpio', 'test-kernel.elf', 'sandbox.cpio']) {
    fs.writeFileSync(path.join(artifacts, n), 'x');
  }
  h.deps.guest = {
    buildGuest: async (opts) => {
      calls.push(opts.force);
      opts.log?.('building');
    },
    guestArtifactPath: (name) => path.join(artifacts, name),
  };
  assert.equal(await main(['guest', 'build', '--force'], h.deps), 0);
  assert.equal(await main(['guest', 'build'], h.deps), 0);
  assert.deepEqual(calls, [true, false]);
  assert.deepEqual(h.err, ['building\n', 'building\n']);
  assert.equal(await main(['guest', 'path', '@guest/vmlinux'], h.deps), 0);
  assert.equal(await main(['guest', 'path'], h.deps), 0);
  const at = (n: string): string => path.join(artifacts, n);
  assert.deepEqual(h.out, [`${at('vmlinux')}\n`, `@guest/vmlinux ${at('vmlinux')}\n`,
    `@guest/bzImage ${at('bzImage')}\n`, `@guest/initramfs.cpio ${at('initramfs.cpio')}\n`,
    `@guest/test-kernel.elf ${at('test-kernel.elf')}\n`, `@guest/sandbox.cpio ${at('sandbox.cpio')}\n`]);
});

test('guest path: one not built yet is status 1 and says how to build it, never a path that is not there', async () => {
  const h = harness();
  const built = path.join(dir, 'vm', 'vmlinux');
  h.deps.guest = {
    buildGuest: async () => {},
    guestArtifactPath: (name) => (name === 'vmlinux' ? built : path.join(dir, 'not-built', name)),
  };
  assert.equal(await main(['guest', 'path', 'bzImage'], h.deps), 1);
  assert.deepEqual(h.out, []);
  assert.deepEqual(h.err, ['tsvmm: @guest/bzImage is not built yet; run `tsvmm guest build` (minutes, once)\n']);
  assert.equal(await main(['guest', 'path'], h.deps), 1);
  assert.deepEqual(h.out, [`@guest/vmlinux ${built}\n`]);
  assert.equal(h.err[1], 'tsvmm: @guest/bzImage, @guest/initramfs.cpio, @guest/test-kernel.elf, @guest/sandbox.cpio are not built yet; ' +
    'run `tsvmm guest build` (minutes, once)\n');
});

test('bin/tsvmm.js: --help lists the commands and the exit statuses', () => {
  const r = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /tsvmm run \[config\]/);
  assert.match(r.stdout, /tsvmm guest/);
  assert.match(r.stdout, /tsvmm doctor/);
  assert.match(r.stdout, /tsvmm completion/);
  for (const code of ['0 ', '1 ', '2 ', '3 ', '4 ', '5 ', '130', '143']) {
    assert.match(r.stdout, new RegExp(`^  ${code}`, 'm'));
  }
  const run = spawnSync(process.execPath, [bin, 'run', '--help'], { encoding: 'utf8' });
  assert.equal(run.status, 0);
  for (const opt of ['--vcpus', '--memory', '--kernel', '--initrd', '--cmdline', '--append', '--log-level', '--serial',
    '--api-sock', '--disk', '--net', '--fs', '--vsock', '--rng', '--balloon', 'Ctrl-A x', 'triple fault', '/dev/kvm',
    'tsvmm doctor', 'PUT /logger', 'GET /metrics']) {
    assert.ok(run.stdout.includes(opt), opt);
  }
});

test('bin/tsvmm.js: a config error is one line on stderr, no stack, exit 2', () => {
  const r = spawnSync(process.execPath, [bin, 'run', path.join(dir, 'vm', 'bad.yaml')], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'tsvmm: vcpus: 0 is out of range 1..254\n');
  assert.equal(r.stdout, '');
});

test('bin/tsvmm.js: the bundle only while no module it was made from is newer; never with TSVMM_NO_BUNDLE=1', (t) => {
  const made = path.join(REPO, 'dist', 'tsvmm-cli.js');
  if (!fs.existsSync(`${made}.inputs`)) {
    t.skip('no bundle here (esbuild missing at build time)');
    return;
  }
  // A copy of the package, so the times can be moved without touching the build other tests use.
  const pkg = path.join(dir, 'pkg');
  for (const p of ['bin', 'dist/src', 'dist/tsvmm-cli.js', 'dist/tsvmm-cli.js.inputs', 'package.json', 'binding.gyp']) {
    fs.cpSync(path.join(REPO, p), path.join(pkg, p), { recursive: true });
  }
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(pkg, 'node_modules'), 'dir');
  const inputs = JSON.parse(fs.readFileSync(path.join(pkg, 'dist', 'tsvmm-cli.js.inputs'), 'utf8')) as string[];
  const config = path.join('dist', 'src', 'vmm', 'config.js');
  assert.ok(inputs.includes(config), 'the record names the modules inside the bundle');
  const at = (p: string, secs: number): void => fs.utimesSync(path.join(pkg, p), secs, secs);
  for (const p of inputs) at(p, 1_000_000);
  at(path.join('dist', 'tsvmm-cli.js'), 2_000_000);
  // Which one ran: the compiled modules leave dist/src/cli.js in the module cache, the bundle does not.
  const probe = path.join(dir, 'probe.js');
  fs.writeFileSync(probe, "process.on('exit', () => process.stderr.write(Object.keys(require.cache)" +
    ".some((k) => k.endsWith('cli.js') && k.includes('src')) ? 'modules' : 'bundle'));\n");
  const loaded = (env: NodeJS.ProcessEnv = {}): string => {
    const r = spawnSync(process.execPath, ['--require', probe, path.join(pkg, 'bin', 'tsvmm.js'), '--version'],
      { encoding: 'utf8', env: { ...process.env, ...env } });
    assert.equal(r.status, 0, r.stderr);
    return r.stderr;
  };
  assert.equal(loaded(), 'bundle');
  assert.equal(loaded({ TSVMM_NO_BUNDLE: '1' }), 'modules');
  at(config, 3_000_000); // what `tsc -w` does: one module re-emitted, dist/src/cli.js untouched
  assert.equal(loaded(), 'modules');
});
