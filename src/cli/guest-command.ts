// `tsvmm guest build|path`: the bundled test guest (kernel, initramfs) is built on demand by src/guest/build.ts.
// That module is loaded at call time so the CLI works (and compiles) without it.

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
export const GUEST_ARTIFACTS = ['vmlinux', 'bzImage', 'initramfs.cpio', 'test-kernel.elf'] as const;

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

/** Prints the path of one artifact (`@guest/` prefix optional), or of each known one as `name path`. */
export function guestPathCommand(name: string | undefined, deps: GuestDeps): number {
  const guest = deps.guest ?? loadGuestModule();
  if (name !== undefined) {
    deps.stdout.write(guest.guestArtifactPath(name.replace(/^@guest\//, '')) + '\n');
    return 0;
  }
  for (const n of GUEST_ARTIFACTS) deps.stdout.write(`@guest/${n} ${guest.guestArtifactPath(n)}\n`);
  return 0;
}
