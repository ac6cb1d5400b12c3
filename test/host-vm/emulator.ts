// Which QEMU runs L1. Debian 12's own QEMU (7.2) crashes L1 under load: L1's kernel takes an event while GS
// still holds L2's base and overflows its stack (docs/testing.md, "L1's own panics"). QEMU 10 ran the same load
// without it. So where the installed QEMU is older than 8 and apt knows a newer qemu-system-x86 (Debian 12 has one
// in bookworm-backports), that one is downloaded and unpacked into the cache, never installed: L1's root is this
// machine's, so the QEMU that the suites run inside L1 (QEMU microvm beside tsvmm) stays the installed one.
// TSVMM_TEST_HOST_QEMU names a binary to use instead of either. The log says which version ran, since the
// emulator's own faults are most of what goes wrong in the test host.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureCached } from '../../src/guest/cache-store';
import { runCommand } from '../../src/guest/exec';
import { HostVmError, findQemu } from './packages';

export interface Emulator {
  binary: string;
  /** Arguments before the machine's own: where an unpacked QEMU finds its firmware. */
  args: string[];
  /** The first line of `--version`. */
  version: string;
  /** Where it came from, for the log line. */
  source: string;
}

/** An installed QEMU older than this gives way to a newer one apt knows. */
const STEADY_MAJOR = 8;

const output = (file: string, args: readonly string[]): Promise<string> => new Promise((resolve, reject) => {
  execFile(file, args, { maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
    if (err) reject(new Error(`${file} ${args.join(' ')}: ${(stderr || err.message).trim().split('\n')[0]}`));
    else resolve(stdout);
  });
});

/** The first line of `qemu --version`, and its major version (0 when it does not say). */
export function parseQemuVersion(text: string): { line: string; major: number } {
  const line = text.split('\n')[0]?.trim() ?? '';
  const m = /version (\d+)\./.exec(line);
  return { line, major: m ? Number(m[1]) : 0 };
}

/** The major version of a Debian package version (`1:10.0.2+ds-2` is 10), or 0. */
export function debianMajor(version: string): number {
  return Number(/^(?:\d+:)?(\d+)\./.exec(version)?.[1] ?? 0);
}

/** Versions of `pkg` in `apt-cache madison` output, as listed. */
export function parseMadison(text: string, pkg: string): string[] {
  return text.split('\n').map((l) => l.split('|').map((f) => f.trim()))
    .filter((f) => f.length >= 3 && f[0] === pkg && f[1] !== undefined && f[1] !== '').map((f) => f[1]!);
}

async function newestAptVersion(pkg: string): Promise<string | undefined> {
  const versions = parseMadison(await output('apt-cache', ['madison', pkg]).catch(() => ''), pkg);
  let best: string | undefined;
  for (const v of versions) {
    if (best === undefined || await output('dpkg', ['--compare-versions', v, 'gt', best]).then(() => true, () => false)) best = v;
  }
  return best;
}

export async function prepareEmulator(cacheRoot: string, log: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env): Promise<Emulator> {
  const named = env.TSVMM_TEST_HOST_QEMU;
  if (named !== undefined && named !== '') {
    const version = parseQemuVersion(await output(named, ['--version']).catch((e: unknown) => {
      throw new HostVmError(`TSVMM_TEST_HOST_QEMU=${named} does not run: ${(e as Error).message}`);
    })).line;
    return { binary: named, args: [], version, source: 'TSVMM_TEST_HOST_QEMU' };
  }
  const installed = findQemu(env);
  const own = parseQemuVersion(await output(installed, ['--version']).catch((e: unknown) => {
    throw new HostVmError(`${installed} does not run: ${(e as Error).message}`);
  }));
  const system: Emulator = { binary: installed, args: [], version: own.line, source: 'installed' };
  if (own.major >= STEADY_MAJOR) return system;
  const newer = await newestAptVersion('qemu-system-x86');
  if (newer === undefined || debianMajor(newer) < STEADY_MAJOR) {
    log(`[host-vm] NOTE: L1 runs on the installed ${own.line}, whose nested SVM crashes L1 now and then ` +
      `(docs/testing.md); apt knows no qemu-system-x86 of ${STEADY_MAJOR} or later (on Debian 12, add bookworm-backports)`);
    return system;
  }
  try {
    return await unpackedQemu(cacheRoot, newer, log);
  } catch (e) {
    log(`[host-vm] NOTE: L1 runs on the installed ${own.line}: qemu-system-x86 ${newer} could not be unpacked ` +
      `(${(e as Error).message.split('\n')[0]})`);
    return system;
  }
}

async function unpackedQemu(cacheRoot: string, version: string, log: (line: string) => void): Promise<Emulator> {
  const safe = version.replace(/[^A-Za-z0-9.+~-]/g, '_');
  const spec = { cacheRoot, name: `host-vm-qemu-${safe}`, files: ['usr/bin/qemu-system-x86_64'], force: false, log };
  const built = await ensureCached(spec, async (work) => {
    // Its firmware: the newest SeaBIOS apt knows (the newer QEMU wants a newer one than Debian 12's).
    const seabios = await newestAptVersion('seabios');
    const pkgs = [`qemu-system-x86=${version}`, `qemu-system-data=${version}`, ...(seabios ? [`seabios=${seabios}`] : [])];
    log(`[host-vm] downloading ${pkgs.join(' ')} for L1 (apt-get download; unpacked, never installed) ...`);
    await runCommand('apt-get', ['download', '-q', ...pkgs], { cwd: work });
    const out = path.join(work, 'out');
    for (const deb of fs.readdirSync(work).filter((f) => f.endsWith('.deb'))) {
      await runCommand('dpkg', ['-x', path.join(work, deb), out]);
    }
    // A library this machine lacks shows here, once, rather than as an L1 that never boots.
    await output(path.join(out, 'usr', 'bin', 'qemu-system-x86_64'), ['--version']);
    return out;
  });
  const binary = path.join(built.dir, 'usr', 'bin', 'qemu-system-x86_64');
  const args = [path.join(built.dir, 'usr', 'share', 'seabios'), path.join(built.dir, 'usr', 'share', 'qemu'), '/usr/share/qemu']
    .filter((d) => fs.existsSync(d)).flatMap((d) => ['-L', d]);
  const version2 = parseQemuVersion(await output(binary, ['--version'])).line;
  return { binary, args, version: version2, source: `qemu-system-x86 ${version}, unpacked` };
}
