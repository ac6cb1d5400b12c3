// The Debian packages the guest build needs, installed with apt-get when missing. Another apt/dpkg run may hold
// the lock (a provisioning script installing the same packages in the background), so a busy lock is waited
// for, and the packages are checked again after each wait: that run may have installed them.
import { execFile } from 'node:child_process';
import { CommandError, runCommand } from './exec';

/** What building the kernel from Debian's linux-source needs. */
export const KERNEL_PACKAGES = ['linux-source', 'flex', 'bison', 'bc', 'libelf-dev', 'libssl-dev', 'gcc', 'make',
  'xz-utils', 'cpio'] as const;
/** What building the initramfs images needs (the static busybox and an assembler/linker for init-pause). */
export const INITRAMFS_PACKAGES = ['busybox-static', 'gcc'] as const;

const LOCK_WAIT_LIMIT_MS = 20 * 60_000;
const LOCK_RETRY_MS = 5_000;
const APT_LINES_SHOWN = /^(Get:|Unpacking |Setting up |E: |W: |Err:)/;

/** Names of the packages not installed, or undefined when this is not a dpkg system (nothing to check with). */
export function missingPackages(names: readonly string[]): Promise<string[] | undefined> {
  // With no names, dpkg-query would list every package.
  if (names.length === 0) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    execFile('dpkg-query', ['-W', '-f', '${Package}\\t${Status}\\n', ...names], (err, stdout) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') return resolve(undefined);
      // Exit status 1 only means some names are unknown to dpkg; those are missing too.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an Error; its type is built with Omit
      if (err && typeof err.code === 'number' && err.code > 1) return reject(err);
      const installed = new Set<string>();
      for (const line of stdout.split('\n')) {
        const [pkg, status] = line.split('\t');
        if (pkg && status?.trim() === 'install ok installed') installed.add(pkg);
      }
      resolve(names.filter((name) => !installed.has(name)));
    });
  });
}

/** Installs what is missing of `names` (root only); a no-op when all are there or dpkg is absent. */
export async function ensurePackages(names: readonly string[], log: (line: string) => void): Promise<void> {
  const started = Date.now();
  let announcedWait = false;
  for (;;) {
    const missing = await missingPackages(names);
    if (missing === undefined || missing.length === 0) return;
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      throw new Error(`guest build: missing packages ${missing.join(' ')}; install them as root with ` +
        `\`apt-get install -y ${missing.join(' ')}\` (or run \`tsvmm guest build\` as root)`);
    }
    log(`[guest] installing ${missing.join(' ')} ...`);
    try {
      await aptGet(['update'], log);
      await aptGet(['install', '-y', '--no-install-recommends', ...missing], log);
      return;
    } catch (err) {
      if (!isLockBusy(err) || Date.now() - started > LOCK_WAIT_LIMIT_MS) throw err;
      if (!announcedWait) log('[guest] waiting for another apt/dpkg run to finish ...');
      announcedWait = true;
      await new Promise((r) => setTimeout(r, LOCK_RETRY_MS));
    }
  }
}

function aptGet(args: string[], log: (line: string) => void): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // DPkg::Lock::Timeout makes apt wait for the dpkg frontend lock itself; the retry above covers the rest.
  return runCommand('apt-get', ['-o', 'DPkg::Lock::Timeout=600', ...args], {
    env,
    onLine: (line) => { if (APT_LINES_SHOWN.test(line)) log(`[guest]   ${line}`); },
  });
}

function isLockBusy(err: unknown): boolean {
  if (!(err instanceof CommandError)) return false;
  return err.tail.some((line) => /Could not get lock|Unable to lock|is another process using it/.test(line));
}
