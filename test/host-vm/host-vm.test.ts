// The test host's pure parts: which kernel package, which modules, the command file L1 runs, QEMU's arguments and
// the CLI's options. Booting L1 itself is what every integration run on a machine without /dev/kvm does.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { parseArgs } from './cli';
import { parseQemuVersion } from './emulator';
import { HostVmError, newestKernelPackage } from './packages';
import { moduleClosure, parseModulesDep } from './prepare';
import { commandScript, l1KernelSays, qemuArgs } from './run';

test('the newest linux-image-*-amd64 by version, then ABI; other packages ignored', () => {
  assert.equal(newestKernelPackage(['linux-image-6.1.0-9-amd64', 'linux-image-6.1.0-57-amd64', 'linux-image-6.1.0-10-amd64']),
    'linux-image-6.1.0-57-amd64');
  assert.equal(newestKernelPackage(['linux-image-5.10.0-30-amd64', 'linux-image-6.1.0-1-amd64']), 'linux-image-6.1.0-1-amd64');
  assert.equal(newestKernelPackage(['linux-image-amd64', 'linux-image-6.1.0-57-cloud-amd64', 'linux-image-6.1.0-5-rt-amd64']), undefined);
  assert.equal(newestKernelPackage([]), undefined);
});

test('modules.dep: a module and everything it needs, by name with - and _ alike', () => {
  const deps = parseModulesDep([
    'kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/netfs/netfs.ko',
    'kernel/net/9p/9pnet.ko:',
    'kernel/fs/netfs/netfs.ko:',
    'kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko',
    'kernel/crypto/crc32c_generic.ko.xz:',
    '',
  ].join('\n'));
  assert.deepEqual(moduleClosure(deps, ['9p', '9pnet-virtio', 'crc32c_generic']), [
    'kernel/crypto/crc32c_generic.ko.xz', 'kernel/fs/9p/9p.ko', 'kernel/fs/netfs/netfs.ko', 'kernel/net/9p/9pnet.ko',
    'kernel/net/9p/9pnet_virtio.ko',
  ]);
  assert.throws(() => moduleClosure(deps, ['kvm_amd']), (e: unknown) => e instanceof HostVmError && /no module kvm_amd/.test(e.message));
});

test('the command file survives any quoting: what sh runs is the argv given, in the share', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-hostvm-'));
  try {
    const argv = [process.execPath, '-e', 'process.stdout.write(JSON.stringify([process.cwd(), process.env.X, ...process.argv.slice(1)]))',
      "it's", '$HOME', '"q"', 'a b'];
    const script = commandScript(dir, argv, { X: "o'k $y" });
    const out = execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), [fs.realpathSync(dir), "o'k $y", "it's", '$HOME', '"q"', 'a b']);
    assert.throws(() => commandScript(dir, ['true'], { 'A-B': '1' }), RangeError);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('QEMU runs TCG with an AMD-V CPU, the root read-only and the checkout and control folder writable', () => {
  const host = { kernelDir: '/k', release: 'r', vmlinuz: '/k/vmlinuz', modulesDir: '/k/lib/modules', initramfs: '/i.cpio', scratchDisk: '/s.img',
    emulator: { binary: '/q', version: 'QEMU emulator version 7.2.19', source: 'test' } };
  const args = qemuArgs(host, '/ctl', '/src', 2, 4096).join(' ');
  assert.match(args, /-accel tcg,/);
  assert.match(args, /-cpu max,-xsave,-fsrm /);
  assert.doesNotMatch(args, /enable-kvm|accel kvm/);
  assert.match(args, /path=\/,security_model=none,multidevs=remap,readonly=on -device virtio-9p-pci,fsdev=hostroot,/);
  assert.match(args, /path=\/src,security_model=none,multidevs=remap -device virtio-9p-pci,fsdev=share,/);
  assert.match(args, /path=\/ctl,security_model=none,multidevs=remap -device virtio-9p-pci,fsdev=ctl,/);
  assert.match(args, /file=\/s\.img,format=raw,if=virtio,snapshot=on/);
});

test('the emulator: its version is read from --version', () => {
  assert.equal(parseQemuVersion('QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)\nCopyright'),
    'QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)');
  assert.equal(parseQemuVersion(''), '');
});

test('CLI options: the command after the options or after --, numbers checked, one-line errors', () => {
  const o = parseArgs(['--cpus', '3', '--timeout', '60', '--', 'node', '--test']);
  assert.ok(o !== 'help');
  assert.deepEqual([o.cpus, o.timeoutMs, o.command], [3, 60_000, ['node', '--test']]);
  const p = parseArgs(['--keep-logs', 'ls', '-l']);
  assert.ok(p !== 'help');
  assert.deepEqual([p.keepLogs, p.command], [true, ['ls', '-l']]);
  assert.equal(parseArgs(['-h']), 'help');
  assert.throws(() => parseArgs(['--cpus', 'two', 'ls']), /--cpus: "two" is not a positive whole number/);
  assert.throws(() => parseArgs(['--frobnicate']), /unknown option --frobnicate/);
  assert.throws(() => parseArgs([]), /no command given/);
});

test("L1's end is said by its first oops and where it was, not a panic's last line", () => {
  const console = [
    'l1-init[4.50]: command starts',
    '[  394.904013] BUG: TASK stack guard page was hit at 00000000e377b8b2 (stack is 00000000d92cec10..0000000011739717)',
    '[  394.907520] stack guard page: 0000 [#1] PREEMPT SMP NOPTI',
    '[  394.908580] RIP: 0010:exc_page_fault+0x15/0x170',
    '[  416.837113] Kernel panic - not syncing: corrupted stack end detected inside scheduler',
    '[  416.838729] Kernel Offset: 0x38200000 from 0xffffffff81000000',
    '',
  ].join('\n');
  assert.equal(l1KernelSays(console),
    "L1's kernel: BUG: TASK stack guard page was hit at 00000000e377b8b2 (stack is 00000000d92cec10..0000000011739717) (RIP: 0010:exc_page_fault+0x15/0x170)");
  assert.equal(l1KernelSays('a\n[    1.0] last words\n\n'), "L1's console ended with: last words");
  assert.equal(l1KernelSays(''), "L1's console ended with: (L1 printed nothing)");
});
