// The stock-kernel guest: Debian's own kernel package (the one the test host boots as L1: fetched with apt, unpacked,
// never installed) with a small initramfs that loads its virtio modules, and a root disk image (ext4, made with
// mkfs.ext4 -d) holding busybox and an init that reports what it sees. Cached in the guest cache under a key of
// the inputs; a test copies the disk before booting it.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureCached } from '../../src/guest/cache-store';
import { runCommand } from '../../src/guest/exec';
import { BUSYBOX_PATH, guestCacheRoot } from '../../src/guest/paths';
import { packageRoot } from '../../src/base/package-root';
import { ensureKernelPackage, moduleInitramfs } from '../host-vm/prepare';

/** What the initramfs loads; the closure of their dependencies comes along. */
export const STOCK_MODULES = ['virtio_mmio', 'virtio_blk', 'virtio_rng', 'crc32c_generic', 'ext4'];
const ROOT_DISK_BYTES = 64 * 1024 * 1024;

export interface StockGuest {
  release: string;
  /** The package's bzImage (xz-compressed; the guest decompresses it). */
  kernel: string;
  initrd: string;
  /** The root disk's pristine image: copy it before use. */
  rootDisk: string;
}

function source(name: string): Buffer {
  return fs.readFileSync(path.join(packageRoot(), 'test', 'stock', name));
}

export async function buildStockGuest(log: (line: string) => void): Promise<StockGuest> {
  const pkg = await ensureKernelPackage({ log, kernelPackage: process.env.TSVMM_HOST_VM_KERNEL });
  const init = source('initramfs-init.sh');
  const rootInit = source('root-init.sh');
  const busybox = fs.readFileSync(BUSYBOX_PATH);
  const key = crypto.createHash('sha256').update(pkg.release).update(init).update(rootInit).update(busybox)
    .update(STOCK_MODULES.join(',')).digest('hex').slice(0, 16);
  const cached = await ensureCached({
    cacheRoot: guestCacheRoot(), name: `stock-guest-${key}`, files: ['initramfs.cpio', 'root.img'], force: false, log,
  }, async (work) => {
    log(`[stock] packing an initramfs for ${pkg.release} (${STOCK_MODULES.join(', ')}) and its root disk ...`);
    const out = path.join(work, 'out');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'initramfs.cpio'),
      moduleInitramfs(pkg.releaseModules, pkg.release, init, STOCK_MODULES, ['proc', 'sys', 'newroot']));
    const tree = path.join(work, 'root');
    for (const d of ['bin', 'sbin', 'proc', 'sys', 'dev', 'tmp']) fs.mkdirSync(path.join(tree, d), { recursive: true });
    fs.writeFileSync(path.join(tree, 'bin', 'busybox'), busybox, { mode: 0o755 });
    fs.writeFileSync(path.join(tree, 'sbin', 'init'), rootInit, { mode: 0o755 });
    const img = path.join(out, 'root.img');
    fs.closeSync(fs.openSync(img, 'w'));
    fs.truncateSync(img, ROOT_DISK_BYTES);
    await runCommand('mkfs.ext4', ['-q', '-F', '-d', tree, img]);
    return out;
  });
  return {
    release: pkg.release,
    kernel: pkg.vmlinuz,
    initrd: path.join(cached.dir, 'initramfs.cpio'),
    rootDisk: path.join(cached.dir, 'root.img'),
  };
}
