// The project's guest: a minimal Linux kernel (vmlinux with the PVH entry note, and an uncompressed bzImage), two
// uncompressed initramfs images and the tiny test kernel (test-kernel.ts), built on this machine from Debian
// packages and test/guest and cached outside the repository (paths.ts says where). `tsvmm guest build` calls
// buildGuest; `@guest/NAME` in a machine config goes through resolveGuestArtifact, which builds on first use.
//
// Cache layout: linux-<key>/ (the extracted, patched source tree, shared by kernel builds), kernel-<key>/
// (vmlinux, bzImage, config, build.log), initramfs-<key>/ (initramfs.cpio, init-pause.cpio), test-kernel-<key>/
// (test-kernel.elf), agent-<key>/ (tsvmm-agent) and sandbox-<key>/ (sandbox.cpio; agent.ts).
import * as path from 'node:path';
import { buildSandboxInitramfs, SANDBOX_INITRAMFS, sandboxInitramfsPath } from './agent';
import { emptyTrash, ensureCached, isNonEmptyFile, type CachedResult } from './cache-store';
import { buildInitramfs } from './initramfs';
import { buildKernel, prepareSourceTree } from './kernel';
import { formatDuration } from './make-progress';
import { ensurePackages, INITRAMFS_PACKAGES, KERNEL_PACKAGES } from './packages';
import {
  BUSYBOX_PATH, findLinuxSourceTarball, GUEST_ARTIFACT_NAMES, guestBuildDirs, guestCacheRoot, type GuestArtifactName,
  initramfsKey, isGuestArtifactName, isKernelArtifact, kernelKey, readFragment, readInitPauseSource, sourceTreeKey,
} from './paths';
import { buildTestKernel, TEST_KERNEL_NAME, testKernelPath } from './test-kernel';

export { GUEST_ARTIFACT_NAMES, guestCacheRoot, type GuestArtifactName } from './paths';

export interface GuestBuildOptions {
  /** Rebuild the kernel and initramfs even when the cache has a build of the same inputs. */
  force?: boolean;
  /** Progress lines (`[guest] ...`); default: stderr. */
  log?: (line: string) => void;
}

export interface GuestArtifacts {
  vmlinux: string;
  bzImage: string;
  /** busybox-static as /init. */
  initramfs: string;
  /** /init that never makes a system call. */
  initPause: string;
  /** The tiny test kernel (test/guest), a PVH ELF. */
  testKernel: string;
  /** busybox init and the sandbox agent (guest/agent), which serves docs/agent-protocol.md on vsock. */
  sandboxInitramfs: string;
  /** The agent itself, a static binary. */
  agent: string;
  /** The kernel's final .config and the full make output. */
  kernelConfig: string;
  buildLog: string;
  /** What this call built; false means reused from the cache. */
  built: { kernel: boolean; initramfs: boolean; testKernel: boolean; sandbox: boolean };
}

type Log = (line: string) => void;

export async function buildGuest(opts: GuestBuildOptions = {}): Promise<GuestArtifacts> {
  const log = opts.log ?? defaultLog;
  const started = Date.now();
  emptyTrash(guestCacheRoot());
  const kernel = await ensureKernel(opts.force ?? false, log);
  const initramfs = await ensureInitramfs(opts.force ?? false, log);
  const testKernel = await buildTestKernel({ force: opts.force ?? false, log });
  const sandbox = await buildSandboxInitramfs({ force: opts.force ?? false, log });
  const artifacts: GuestArtifacts = {
    vmlinux: path.join(kernel.dir, 'vmlinux'),
    bzImage: path.join(kernel.dir, 'bzImage'),
    initramfs: path.join(initramfs.dir, 'initramfs.cpio'),
    initPause: path.join(initramfs.dir, 'init-pause.cpio'),
    testKernel: testKernel.path,
    sandboxInitramfs: sandbox.path,
    agent: sandbox.agent,
    kernelConfig: path.join(kernel.dir, 'config'),
    buildLog: path.join(kernel.dir, 'build.log'),
    built: { kernel: kernel.built, initramfs: initramfs.built, testKernel: testKernel.built, sandbox: sandbox.built },
  };
  const built = kernel.built || initramfs.built || testKernel.built || sandbox.built;
  const how = built ? `built in ${formatDuration(Date.now() - started)}` : 'cached';
  log(`[guest] done (${how}): ${artifacts.vmlinux} ${artifacts.bzImage} ${artifacts.initramfs} ${artifacts.initPause} ` +
    `${artifacts.testKernel} ${artifacts.sandboxInitramfs}`);
  return artifacts;
}

/** Where an artifact of the current inputs is (or will be once built). Accepts the name with or without @guest/. */
export function guestArtifactPath(name: GuestArtifactName | (string & {})): string {
  const bare = artifactName(name);
  if (bare === TEST_KERNEL_NAME) return testKernelPath();
  if (bare === SANDBOX_INITRAMFS) return sandboxInitramfsPath();
  const dirs = guestBuildDirs();
  return path.join(isKernelArtifact(bare) ? dirs.kernel : dirs.initramfs, bare);
}

/** `@guest/vmlinux` etc. to a file path, building that part of the guest first if the cache lacks it. */
export async function resolveGuestArtifact(ref: string, opts: GuestBuildOptions = {}): Promise<string> {
  const name = artifactName(ref);
  const log = opts.log ?? defaultLog;
  // A build of unchanged sources is a cache hit, and an edited test/guest should boot without a manual rebuild.
  if (name === TEST_KERNEL_NAME) return (await buildTestKernel({ force: opts.force ?? false, log })).path;
  if (name === SANDBOX_INITRAMFS) return (await buildSandboxInitramfs({ force: opts.force ?? false, log })).path;
  const existing = guestArtifactPath(name);
  if (!opts.force && isNonEmptyFile(existing)) return existing;
  log(`[guest] @guest/${name} is not built yet; building it now (once, then cached) ...`);
  const step = isKernelArtifact(name)
    ? await ensureKernel(opts.force ?? false, log)
    : await ensureInitramfs(opts.force ?? false, log);
  return path.join(step.dir, name);
}

function artifactName(ref: string): GuestArtifactName {
  const bare = ref.startsWith('@guest/') ? ref.slice('@guest/'.length) : ref;
  if (!isGuestArtifactName(bare)) {
    const known = GUEST_ARTIFACT_NAMES.map((n) => `@guest/${n}`).join(', ');
    throw new Error(`guest artifact: unknown name ${JSON.stringify(ref)} (known: ${known})`);
  }
  return bare;
}

async function ensureKernel(force: boolean, log: Log): Promise<CachedResult> {
  await ensurePackages(KERNEL_PACKAGES, log);
  const tarball = findLinuxSourceTarball();
  if (tarball === undefined) {
    throw new Error('guest build: no /usr/src/linux-source-*.tar.xz found (install the linux-source package)');
  }
  const fragment = readFragment();
  const cacheRoot = guestCacheRoot();
  const kernelSpec = { cacheRoot, name: `kernel-${kernelKey(fragment.text, tarball)}`, files: ['vmlinux', 'bzImage'], force, log };
  const buildLogOf = (workDir: string): string => path.join(workDir, 'out', 'build.log');
  return ensureCached(kernelSpec, async (workDir) => {
    // The source tree is only prepared when a kernel build needs it, and kept for the next fragment edit.
    const sourceSpec = { cacheRoot, name: `linux-${sourceTreeKey(tarball)}`, files: ['Makefile'], force: false, log };
    const source = await ensureCached(sourceSpec, (srcWork) => prepareSourceTree(tarball, srcWork, log));
    const outDir = path.join(workDir, 'out');
    await buildKernel({ fragment, sourceDir: source.dir, workDir, outDir, log });
    return outDir;
  }, buildLogOf);
}

async function ensureInitramfs(force: boolean, log: Log): Promise<CachedResult> {
  await ensurePackages(INITRAMFS_PACKAGES, log);
  const initPause = readInitPauseSource();
  const spec = {
    cacheRoot: guestCacheRoot(), name: `initramfs-${initramfsKey(initPause.text)}`,
    files: ['initramfs.cpio', 'init-pause.cpio'], force, log,
  };
  return ensureCached(spec, async (workDir) => {
    const outDir = path.join(workDir, 'out');
    await buildInitramfs({ busyboxPath: BUSYBOX_PATH, initPause, workDir, outDir, log });
    return outDir;
  });
}

function defaultLog(line: string): void {
  process.stderr.write(line + '\n');
}
