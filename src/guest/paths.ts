// Where the guest artifacts live: a cache outside the repository, one folder per build key. A key hashes every
// input of that build (config fragment, source tarball identity, patches, recipe version), so editing the
// fragment gives a new folder and a new build while an unchanged input set reuses the old one.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../base/package-root';
import { SOURCE_PATCHES } from './source-patches';

export const GUEST_ARTIFACT_NAMES = ['vmlinux', 'bzImage', 'initramfs.cpio', 'init-pause.cpio', 'test-kernel.elf',
  'sandbox.cpio'] as const;
export type GuestArtifactName = (typeof GUEST_ARTIFACT_NAMES)[number];

const KERNEL_ARTIFACTS: readonly GuestArtifactName[] = ['vmlinux', 'bzImage'];

// Bump when the build steps change in a way that changes the output for the same inputs.
const KERNEL_RECIPE = 1;
const INITRAMFS_RECIPE = 1;

/** Debian's linux-source puts its tarball here; busybox-static installs its binary at BUSYBOX_PATH. */
const LINUX_SOURCE_DIR = '/usr/src';
export const BUSYBOX_PATH = '/bin/busybox';

export function isGuestArtifactName(name: string): name is GuestArtifactName {
  return (GUEST_ARTIFACT_NAMES as readonly string[]).includes(name);
}

export function isKernelArtifact(name: GuestArtifactName): boolean {
  return KERNEL_ARTIFACTS.includes(name);
}

/** $TSVMM_CACHE, else $XDG_CACHE_HOME/tsvmm, else ~/.cache/tsvmm. */
export function guestCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TSVMM_CACHE) return path.resolve(env.TSVMM_CACHE);
  if (env.XDG_CACHE_HOME) return path.join(path.resolve(env.XDG_CACHE_HOME), 'tsvmm');
  return path.join(os.homedir(), '.cache', 'tsvmm');
}

/** The repository's configs/ folder (kernel.config, init-pause.S), found from this file in src/ or dist/src/. */
export function guestConfigDir(): string {
  return packageFolder('configs', 'kernel.config');
}

/** A folder of the package (`rel`, which must hold `marker`). */
export function packageFolder(rel: string, marker: string): string {
  const dir = path.join(packageRoot(), rel);
  if (!fs.existsSync(path.join(dir, marker))) throw new Error(`guest build: ${path.join(rel, marker)} not found in ${packageRoot()}`);
  return dir;
}

export interface LinuxSourceTarball {
  path: string;
  /** The folder the tarball unpacks to, e.g. linux-source-6.1. */
  topDir: string;
  size: number;
  mtimeMs: number;
}

/** The newest /usr/src/linux-source-X.Y.tar.xz, or undefined when linux-source is not installed. */
export function findLinuxSourceTarball(dir: string = LINUX_SOURCE_DIR): LinuxSourceTarball | undefined {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return undefined;
  }
  const tarballs = names.filter((n) => /^linux-source-\d+(\.\d+)*\.tar\.xz$/.test(n)).sort(compareVersionedNames);
  const newest = tarballs[tarballs.length - 1];
  if (newest === undefined) return undefined;
  const full = path.join(dir, newest);
  const st = fs.statSync(full);
  return { path: full, topDir: newest.replace(/\.tar\.xz$/, ''), size: st.size, mtimeMs: st.mtimeMs };
}

function compareVersionedNames(a: string, b: string): number {
  const nums = (s: string): number[] => (s.match(/\d+/g) ?? []).map(Number);
  const [x, y] = [nums(a), nums(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? -1) - (y[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

export function readFragment(): { path: string; text: string } {
  const file = path.join(guestConfigDir(), 'kernel.config');
  return { path: file, text: fs.readFileSync(file, 'utf8') };
}

export function readInitPauseSource(): { path: string; text: string } {
  const file = path.join(guestConfigDir(), 'init-pause.S');
  return { path: file, text: fs.readFileSync(file, 'utf8') };
}

function hashKey(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}

function fileIdentity(file: string): { size: number; mtimeMs: number } | 'missing' {
  try {
    const st = fs.statSync(file);
    return { size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    return 'missing';
  }
}

/** Names the extracted, patched source tree: the tarball's identity and the patch list. */
export function sourceTreeKey(tarball: LinuxSourceTarball | undefined): string {
  const source = tarball ? { name: path.basename(tarball.path), size: tarball.size, mtimeMs: tarball.mtimeMs } : 'missing';
  return hashKey({ source, patches: SOURCE_PATCHES });
}

export function kernelKey(fragmentText: string, tarball: LinuxSourceTarball | undefined): string {
  return hashKey({ recipe: KERNEL_RECIPE, fragment: fragmentText, source: sourceTreeKey(tarball) });
}

export function initramfsKey(initPauseText: string): string {
  return hashKey({ recipe: INITRAMFS_RECIPE, busybox: fileIdentity(BUSYBOX_PATH), initPause: initPauseText });
}

/** The folders the current inputs build into (they may not exist yet). */
export function guestBuildDirs(cacheRoot: string = guestCacheRoot()): { kernel: string; initramfs: string } {
  return {
    kernel: path.join(cacheRoot, `kernel-${kernelKey(readFragment().text, findLinuxSourceTarball())}`),
    initramfs: path.join(cacheRoot, `initramfs-${initramfsKey(readInitPauseSource().text)}`),
  };
}
