// `tsvmm guest build|path`: the bundled test guest (kernel, initramfs) is built on demand by src/guest/build.ts.
// That module is loaded at call time so the CLI works (and compiles) without it.
import * as fs from 'node:fs';

export interface GuestBuildModule {
  buildGuest(opts: { force?: boolean; log?: (line: string) => void }): Promise<unknown>;
  guestArtifactPath(name: string): string;
}

export interface GuestDeps {
  guest?: GuestBuildModule;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** The artifacts `tsvmm guest path` lists when no name is given. */
export const GUEST_ARTIFACTS = ['vmlinux', 'bzImage', 'initramfs.cpio', 'test-kernel.elf', 'sandbox.cpio'] as const;

export function loadGuestModule(): GuestBuildModule {
  let mod: Partial<GuestBuildModule>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require('../guest/build') as Partial<GuestBuildModule>;
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' &&
      (e as Error).message.includes('guest/build');
    if (missing) throw new Error('the guest builder (src/guest/build.ts) is not part of this build', { cause: e });
    throw e;
  }
  if (typeof mod.buildGuest !== 'function' || typeof mod.guestArtifactPath !== 'function') {
    throw new Error('src/guest/build.ts does not export buildGuest and guestArtifactPath');
  }
  return mod as GuestBuildModule;
}

export async function guestBuildCommand(force: boolean, deps: GuestDeps): Promise<number> {
  const guest = deps.guest ?? loadGuestModule();
  await guest.buildGuest({ force, log: (line) => deps.stderr.write(line + '\n') });
  return 0;
}

function isBuilt(file: string): boolean {
  try {
    return fs.statSync(file).size > 0;
  } catch {
    return false;
  }
}

/**
 * Prints the path of one artifact (`@guest/` prefix optional), or of each known one as `name path`. An artifact
 * not built yet is an error (status 1) saying how to build it: a path that does not exist is no answer.
 */
export function guestPathCommand(name: string | undefined, deps: GuestDeps): number {
  const guest = deps.guest ?? loadGuestModule();
  const names = name === undefined ? GUEST_ARTIFACTS : [name.replace(/^@guest\//, '')];
  const missing: string[] = [];
  for (const n of names) {
    const file = guest.guestArtifactPath(n);
    if (!isBuilt(file)) missing.push(`@guest/${n}`);
    else deps.stdout.write(name === undefined ? `@guest/${n} ${file}\n` : `${file}\n`);
  }
  if (missing.length === 0) return 0;
  deps.stderr.write(`tsvmm: ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not built yet; run ` +
    '`tsvmm guest build` (minutes, once)\n');
  return 1;
}
