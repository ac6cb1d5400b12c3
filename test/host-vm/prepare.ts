// What the test host boots, prepared once and cached beside the guest artifacts (<cache>/host-vm-*):
// - Debian's own kernel package (linux-image-<version>-amd64), downloaded with `apt-get download` and unpacked with
//   `dpkg -x`, never installed; the .deb ships no modules.dep, so `busybox depmod` writes one;
// - an uncompressed initramfs: busybox, the modules that mount 9p and the overlay root, and l1-init.sh as /init;
// - a sparse ext4 scratch disk for the overlay's upper layer (attached with snapshot=on: every run starts empty).
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureCached } from '../../src/guest/cache-store';
import { type CpioEntry, writeNewcArchive } from '../../src/guest/cpio';
import { runCommand } from '../../src/guest/exec';
import { ensurePackages } from '../../src/guest/packages';
import { BUSYBOX_PATH, guestCacheRoot } from '../../src/guest/paths';
import { packageRoot } from '../../src/base/package-root';
import { type Emulator, prepareEmulator } from './emulator';
import { HostVmError, aptKernelPackages, newestKernelPackage } from './packages';

/** The modules /init loads before the outer root is mounted; the rest come over the kmods share. */
export const EARLY_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay', 'virtio_blk', 'crc32c_generic', 'ext4'];
const SCRATCH_SIZE = 32 * 1024 ** 3;

export interface PreparedHost {
  /** The unpacked package: boot/vmlinuz-<release>, lib/modules/<release>/. */
  kernelDir: string;
  release: string;
  vmlinuz: string;
  modulesDir: string;
  initramfs: string;
  scratchDisk: string;
  /** The QEMU that runs L1 (emulator.ts). */
  emulator: Emulator;
}

export interface PrepareOptions {
  cacheRoot?: string;
  /** A package name to use instead of the newest linux-image-*-amd64 apt knows. */
  kernelPackage?: string;
  log: (line: string) => void;
}

/** Debian's kernel package, unpacked: the kernel, its release and its module tree (with a modules.dep). */
export interface KernelPackage {
  kernelDir: string;
  release: string;
  vmlinuz: string;
  /** lib/modules/<release> */
  releaseModules: string;
}

/** Downloads and unpacks the kernel package once (cached); the newest apt knows unless one is named. */
export async function ensureKernelPackage(opts: PrepareOptions): Promise<KernelPackage> {
  const cacheRoot = opts.cacheRoot ?? guestCacheRoot();
  const log = opts.log;
  await ensurePackages(['busybox-static', 'e2fsprogs'], log);
  const pkg = opts.kernelPackage ?? (await pickKernelPackage(log));
  const kernel = await ensureCached({ cacheRoot, name: `host-vm-kernel-${pkg}`, files: ['release'], force: false, log },
    (work) => unpackKernel(pkg, work, log));
  const release = fs.readFileSync(path.join(kernel.dir, 'release'), 'utf8').trim();
  return {
    kernelDir: kernel.dir,
    release,
    vmlinuz: path.join(kernel.dir, 'boot', `vmlinuz-${release}`),
    releaseModules: path.join(kernel.dir, 'lib', 'modules', release),
  };
}

export async function prepareHostVm(opts: PrepareOptions): Promise<PreparedHost> {
  const cacheRoot = opts.cacheRoot ?? guestCacheRoot();
  const log = opts.log;
  const kernel = await ensureKernelPackage(opts);
  const release = kernel.release;
  const modulesDir = kernel.releaseModules;

  const initText = fs.readFileSync(initScriptPath());
  const key = crypto.createHash('sha256').update(initText).update(release).update(EARLY_MODULES.join(',')).digest('hex');
  const initramfs = await ensureCached(
    { cacheRoot, name: `host-vm-initramfs-${key.slice(0, 16)}`, files: ['initramfs.cpio'], force: false, log },
    async (work) => {
      log('[host-vm] packing the L1 initramfs (busybox, 9p, overlay, ext4) ...');
      const out = path.join(work, 'out');
      fs.mkdirSync(out);
      const dirs = ['proc', 'sys', 'tmp', 'ctl', 'lower', 'upper', 'newroot'];
      fs.writeFileSync(path.join(out, 'initramfs.cpio'), moduleInitramfs(modulesDir, release, initText, EARLY_MODULES, dirs));
      return out;
    });
  const disk = await ensureCached({ cacheRoot, name: 'host-vm-scratch', files: ['scratch.img'], force: false, log },
    async (work) => {
      log('[host-vm] making the scratch disk (sparse ext4) ...');
      const out = path.join(work, 'out');
      fs.mkdirSync(out);
      const img = path.join(out, 'scratch.img');
      fs.closeSync(fs.openSync(img, 'w'));
      fs.truncateSync(img, SCRATCH_SIZE);
      await runCommand('mkfs.ext4', ['-q', '-F', '-O', '^has_journal', '-E', 'lazy_itable_init=1,nodiscard', img]);
      return out;
    });
  const emulator = await prepareEmulator();
  log(`[host-vm] L1 runs on ${emulator.version} (${emulator.source})`);
  return {
    kernelDir: kernel.kernelDir,
    release,
    vmlinuz: kernel.vmlinuz,
    modulesDir: path.join(kernel.kernelDir, 'lib', 'modules'),
    initramfs: path.join(initramfs.dir, 'initramfs.cpio'),
    scratchDisk: path.join(disk.dir, 'scratch.img'),
    emulator,
  };
}

export function initScriptPath(): string {
  return path.join(packageRoot(), 'test', 'host-vm', 'l1-init.sh');
}

async function pickKernelPackage(log: (line: string) => void): Promise<string> {
  let names = await aptKernelPackages();
  if (names.length === 0) {
    log('[host-vm] apt knows no linux-image-*-amd64 package; running apt-get update ...');
    await runCommand('apt-get', ['update', '-qq']).catch(() => undefined);
    names = await aptKernelPackages();
  }
  const pkg = newestKernelPackage(names);
  if (pkg === undefined) {
    throw new HostVmError('no Debian kernel package (linux-image-<version>-amd64) is known to apt; ' +
      'run `apt-get update`, or name one with TSVMM_HOST_VM_KERNEL');
  }
  return pkg;
}

async function unpackKernel(pkg: string, work: string, log: (line: string) => void): Promise<string> {
  log(`[host-vm] downloading ${pkg} (apt-get download; it is unpacked, never installed) ...`);
  await runCommand('apt-get', ['download', '-q', pkg], { cwd: work }).catch((err: unknown) => {
    throw new HostVmError(`cannot download the kernel package ${pkg}: ${(err as Error).message.split('\n')[0]}`);
  });
  const deb = fs.readdirSync(work).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (deb === undefined) throw new HostVmError(`apt-get download ${pkg} left no .deb`);
  const out = path.join(work, 'out');
  log(`[host-vm] unpacking ${deb} ...`);
  await runCommand('dpkg', ['-x', path.join(work, deb), out]);
  const releases = fs.readdirSync(path.join(out, 'lib', 'modules'));
  const release = releases[0];
  if (releases.length !== 1 || release === undefined) {
    throw new HostVmError(`${deb} holds ${releases.length} module trees; expected one`);
  }
  if (!fs.existsSync(path.join(out, 'boot', `vmlinuz-${release}`))) throw new HostVmError(`${deb} has no vmlinuz`);
  log('[host-vm] writing modules.dep (busybox depmod) ...');
  await runCommand(BUSYBOX_PATH, ['depmod', '-b', out, release]);
  fs.writeFileSync(path.join(out, 'release'), `${release}\n`);
  return out;
}

/** modules.dep as module path -> its dependencies' paths (relative to lib/modules/<release>). */
export function parseModulesDep(text: string): Map<string, string[]> {
  const deps = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const rest = line.slice(colon + 1).trim();
    deps.set(line.slice(0, colon).trim(), rest === '' ? [] : rest.split(/\s+/));
  }
  return deps;
}

/** The files of `names` and everything they depend on; throws naming a module the tree does not have. */
export function moduleClosure(deps: Map<string, string[]>, names: readonly string[]): string[] {
  const byName = new Map<string, string>();
  for (const file of deps.keys()) byName.set(path.basename(file).replace(/\.ko(\.[a-z]+)?$/, '').replace(/-/g, '_'), file);
  const found = new Set<string>();
  for (const name of names) {
    const file = byName.get(name.replace(/-/g, '_'));
    if (file === undefined) throw new HostVmError(`the kernel package has no module ${name}`);
    found.add(file);
    for (const dep of deps.get(file) ?? []) found.add(dep);
  }
  return [...found].sort();
}

/**
 * An uncompressed initramfs: busybox, `init` as /init, empty folders `dirs`, and the modules `modules` with
 * everything they depend on plus modules.dep, so busybox modprobe loads them in order.
 */
export function moduleInitramfs(modulesDir: string, release: string, init: Buffer, modules: readonly string[],
  dirs: readonly string[]): Buffer {
  const depText = fs.readFileSync(path.join(modulesDir, 'modules.dep'), 'utf8');
  const files = moduleClosure(parseModulesDep(depText), modules);
  const entries: CpioEntry[] = [
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/busybox', data: fs.readFileSync(BUSYBOX_PATH), mode: 0o755 },
    { type: 'symlink', path: 'sbin', target: 'bin' },
    { type: 'file', path: 'init', data: init, mode: 0o755 },
    { type: 'dir', path: 'dev' },
    { type: 'char', path: 'dev/console', major: 5, minor: 1, mode: 0o600 },
    ...dirs.map((d): CpioEntry => ({ type: 'dir', path: d })),
  ];
  const made = new Set<string>();
  const addDir = (d: string): void => {
    if (d === '.' || made.has(d)) return;
    addDir(path.dirname(d));
    made.add(d);
    entries.push({ type: 'dir', path: d });
  };
  const base = `lib/modules/${release}`;
  addDir(base);
  for (const file of files) {
    addDir(path.dirname(`${base}/${file}`));
    entries.push({ type: 'file', path: `${base}/${file}`, data: fs.readFileSync(path.join(modulesDir, file)), mode: 0o644 });
  }
  entries.push({ type: 'file', path: `${base}/modules.dep`, data: Buffer.from(depText), mode: 0o644 });
  return writeNewcArchive(entries);
}
