// What `tsvmm doctor` asks of the host beyond the preflight's probes: programs on PATH, Debian packages, the guest
// cache. Kept apart so the checks (doctor.ts) can be tested with a made-up host.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hostProbe, type HostProbe } from '../vmm/host-probe';

export interface DoctorProbe extends HostProbe {
  /** The program's path on PATH, or undefined. */
  findExecutable(name: string): string | undefined;
  /** The packages of `names` not installed; undefined on a host without dpkg. */
  missingPackages(names: readonly string[]): Promise<string[] | undefined>;
  /** Where the test host's L1 kernel would come from: a cached unpacked package or one apt knows; undefined: none. */
  testHostKernel(): Promise<string | undefined>;
  /** The path of a built guest artifact (vmlinux, initramfs.cpio), or undefined when it is not built. */
  guestArtifact(name: string): string | undefined;
  /** Whether this process runs as root (it may install missing packages). */
  isRoot(): boolean;
}

function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '/usr/bin:/bin').split(':')) {
    const candidate = path.join(dir || '.', name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/** The guest module, loaded only here: it is not part of every build of the CLI. */
function guestModule(): typeof import('../guest/build') | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('../guest/build') as typeof import('../guest/build');
  } catch {
    return undefined;
  }
}

function cachedKernelPackage(): string | undefined {
  const guest = guestModule();
  if (!guest) return undefined;
  const root = guest.guestCacheRoot();
  try {
    const found = fs.readdirSync(root).find((n) => n.startsWith('host-vm-kernel-'));
    return found === undefined ? undefined : path.join(root, found);
  } catch {
    return undefined;
  }
}

function aptKernelPackage(): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('apt-cache', ['pkgnames', 'linux-image-'], { maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => {
      if (err) return resolve(undefined);
      resolve(stdout.split('\n').map((l) => l.trim()).find((l) => /^linux-image-[\d.]+-\d+-amd64$/.test(l)));
    });
  });
}

function guestArtifact(name: string): string | undefined {
  try {
    const p = guestModule()?.guestArtifactPath(name);
    return p !== undefined && fs.statSync(p).size > 0 ? p : undefined;
  } catch {
    return undefined;
  }
}

/** This machine. */
export function doctorProbe(): DoctorProbe {
  return {
    ...hostProbe(),
    findExecutable: (name) => findExecutable(name),
    missingPackages: async (names) => {
      const { missingPackages } = await import('../guest/packages');
      return missingPackages(names);
    },
    testHostKernel: async () => cachedKernelPackage() ?? (await aptKernelPackage()),
    guestArtifact,
    isRoot: () => process.getuid?.() === 0,
  };
}
