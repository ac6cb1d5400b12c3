// Which Debian kernel the test host boots, and the one-line errors it gives when something it needs is missing.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A problem the user fixes by installing or naming something; the CLI prints its message as one line. */
export class HostVmError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostVmError';
  }
}

const KERNEL_PACKAGE = /^linux-image-(\d+(?:\.\d+)*)-(\d+)-amd64$/;

/** The linux-image-<version>-<abi>-amd64 packages apt knows (none before `apt-get update` on a new machine). */
export function aptKernelPackages(): Promise<string[]> {
  return new Promise((resolve) => {
    execFile('apt-cache', ['pkgnames', 'linux-image-'], { maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => {
      if (err) return resolve([]);
      resolve(stdout.split('\n').map((l) => l.trim()).filter((l) => KERNEL_PACKAGE.test(l)));
    });
  });
}

/** The newest by version, then ABI number; undefined for an empty list. */
export function newestKernelPackage(names: readonly string[]): string | undefined {
  const key = (name: string): number[] => {
    const m = KERNEL_PACKAGE.exec(name);
    return m ? [...m[1]!.split('.').map(Number), Number(m[2])] : [];
  };
  const cmp = (a: number[], b: number[]): number => {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const d = (a[i] ?? -1) - (b[i] ?? -1);
      if (d !== 0) return d;
    }
    return 0;
  };
  return [...names].filter((n) => KERNEL_PACKAGE.test(n)).sort((a, b) => cmp(key(a), key(b))).at(-1);
}

/** The QEMU binary on PATH, or a HostVmError saying how to get it. */
export function findQemu(env: NodeJS.ProcessEnv = process.env): string {
  for (const dir of (env.PATH ?? '/usr/bin:/bin').split(':')) {
    const candidate = path.join(dir || '.', 'qemu-system-x86_64');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  throw new HostVmError('qemu-system-x86_64 is not installed: the test host needs it (apt-get install qemu-system-x86)');
}
