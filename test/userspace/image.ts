// The Linux user-space suite's initramfs: the project's busybox image with busybox init as /init, the suite's
// inittab and check script (ut.sh), and ut-xfer (a static TCP/vsock byte mover, built here with the system gcc).
// Cached in the guest cache under a key of its inputs.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureCached } from '../../src/guest/cache-store';
import { writeNewcArchive } from '../../src/guest/cpio';
import { runCommand } from '../../src/guest/exec';
import { busyboxInitramfsEntries, checkStaticInit } from '../../src/guest/initramfs';
import { BUSYBOX_PATH, guestCacheRoot } from '../../src/guest/paths';
import { packageRoot } from '../../src/base/package-root';

const SOURCES = ['ut.sh', 'inittab', 'ut-xfer.c'] as const;

function sourceDir(): string {
  return path.join(packageRoot(), 'test', 'userspace');
}

export async function buildUserspaceInitramfs(log: (line: string) => void): Promise<string> {
  const texts = Object.fromEntries(SOURCES.map((s) => [s, fs.readFileSync(path.join(sourceDir(), s))])) as Record<(typeof SOURCES)[number], Buffer>;
  const busybox = fs.readFileSync(BUSYBOX_PATH);
  const hash = crypto.createHash('sha256');
  for (const s of SOURCES) hash.update(s).update(texts[s]);
  hash.update(busybox);
  const cached = await ensureCached({
    cacheRoot: guestCacheRoot(), name: `userspace-${hash.digest('hex').slice(0, 16)}`, files: ['userspace.cpio'],
    force: false, log,
  }, async (work) => {
    log('[userspace] building ut-xfer and the user-space initramfs ...');
    const xfer = path.join(work, 'ut-xfer');
    await runCommand('gcc', ['-static', '-O2', '-Wall', '-Wextra', '-o', xfer, path.join(sourceDir(), 'ut-xfer.c')]);
    const binary = fs.readFileSync(xfer);
    checkStaticInit(binary, 'ut-xfer');
    // The project's busybox image, with busybox init (it reads /etc/inittab) in place of its rcS.
    const entries = busyboxInitramfsEntries(busybox).filter((e) => e.path !== 'etc/init.d' && e.path !== 'etc/init.d/rcS');
    entries.push(
      { type: 'file', path: 'etc/inittab', data: texts.inittab, mode: 0o644 },
      { type: 'file', path: 'etc/ut.sh', data: texts['ut.sh'], mode: 0o755 },
      { type: 'file', path: 'bin/ut-xfer', data: binary, mode: 0o755 },
    );
    const out = path.join(work, 'out');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'userspace.cpio'), writeNewcArchive(entries));
    return out;
  });
  return path.join(cached.dir, 'userspace.cpio');
}
