// The Linux user-space suite's initramfs: the project's busybox image with busybox init as /init, the suite's
// inittab and check scripts (ut.sh, ut-devices.sh), and its static tools, built here with the system gcc: ut-xfer (a
// TCP/vsock byte mover), ut-ev (evdev), ut-fb (fbdev and KMS patterns), ut-alg (AF_ALG) and ut-pcm (ALSA PCM).
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

const TOOLS = ['ut-xfer', 'ut-ev', 'ut-fb', 'ut-alg', 'ut-pcm'] as const;
const SOURCES = ['ut.sh', 'ut-devices.sh', 'inittab', ...TOOLS.map((t) => `${t}.c` as const)] as const;

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
    log(`[userspace] building ${TOOLS.join(', ')} and the user-space initramfs ...`);
    const tools: { path: string; data: Buffer }[] = [];
    for (const tool of TOOLS) {
      const binary = path.join(work, tool);
      await runCommand('gcc', ['-static', '-O2', '-Wall', '-Wextra', '-o', binary, path.join(sourceDir(), `${tool}.c`)]);
      const data = fs.readFileSync(binary);
      checkStaticInit(data, tool);
      tools.push({ path: `bin/${tool}`, data });
    }
    // The project's busybox image, with busybox init (it reads /etc/inittab) in place of its rcS.
    const entries = busyboxInitramfsEntries(busybox).filter((e) => e.path !== 'etc/init.d' && e.path !== 'etc/init.d/rcS');
    entries.push(
      { type: 'file', path: 'etc/inittab', data: texts.inittab, mode: 0o644 },
      { type: 'file', path: 'etc/ut.sh', data: texts['ut.sh'], mode: 0o755 },
      { type: 'file', path: 'etc/ut-devices.sh', data: texts['ut-devices.sh'], mode: 0o644 },
      ...tools.map((t) => ({ type: 'file' as const, path: t.path, data: t.data, mode: 0o755 })),
    );
    const out = path.join(work, 'out');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'userspace.cpio'), writeNewcArchive(entries));
    return out;
  });
  return path.join(cached.dir, 'userspace.cpio');
}
