// `tsvmm image build`: sandbox root images (rootfs-image.ts says what is in one). From a folder: the folder is copied
// next to the output, the agent added, and mkfs.ext4 -d writes the image. From Debian: debootstrap (minbase, with
// the packages asked for) into a work folder of the guest cache, and the image is cached there under a key of
// every input (debian-image.ts), so the same request again is a copy.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildAgent } from './agent';
import { ensureCached } from './cache-store';
import { debianImageKey, DEBIAN_IMAGE_FILE, debootstrapInto, type DebianImageRequest } from './debian-image';
import { formatDuration } from './make-progress';
import { ensurePackages } from './packages';
import { guestCacheRoot } from './paths';
import { addAgentToTree, allocatedBytes, copySparse, makeExt4Image } from './rootfs-image';
import { runCommand } from './exec';

export interface ImageBuildCommon {
  /** The image to write; its folder must exist. */
  out: string;
  /** Bytes; default the tree's size plus headroom. */
  size?: number;
  log: (line: string) => void;
  /** Default: guestCacheRoot(). */
  cacheRoot?: string;
}

const MIB = 1024 * 1024;

function describeImage(file: string, size: number): string {
  return `${file} (${Math.round(size / MIB)} MiB, ${Math.round(allocatedBytes(file) / MIB)} MiB on disk)`;
}

/** A temporary name beside `out`, renamed over it once complete, so a failed build leaves no half image. */
function partialPath(out: string): string {
  return path.join(path.dirname(out), `.${path.basename(out)}.partial-${process.pid}`);
}

/** An ext4 image of `from` plus the agent, written to `out`. */
export async function buildImageFromDir(from: string, opts: ImageBuildCommon): Promise<{ path: string; size: number }> {
  const started = Date.now();
  const agent = await buildAgent({ log: opts.log, ...(opts.cacheRoot ? { cacheRoot: opts.cacheRoot } : {}) });
  const work = fs.mkdtempSync(path.join(path.dirname(path.resolve(opts.out)), '.tsvmm-image-'));
  const partial = partialPath(opts.out);
  try {
    const tree = path.join(work, 'root');
    opts.log(`[image] copying ${from} ...`);
    await runCommand('cp', ['-a', '--', path.resolve(from), tree]);
    addAgentToTree(tree, agent.path);
    opts.log('[image] writing the ext4 image (mkfs.ext4 -d) ...');
    const { size } = await makeExt4Image(tree, partial, opts.size);
    fs.renameSync(partial, opts.out);
    opts.log(`[image] done in ${formatDuration(Date.now() - started)}: ${describeImage(opts.out, size)}`);
    return { path: opts.out, size };
  } finally {
    fs.rmSync(partial, { force: true });
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The Debian image for `request`, from the cache or built into it; returns the cached image's path. */
export async function ensureDebianImage(request: DebianImageRequest, opts: Omit<ImageBuildCommon, 'out'> & { force?: boolean })
  : Promise<{ path: string; built: boolean }> {
  const log = opts.log;
  const agent = await buildAgent({ log, ...(opts.cacheRoot ? { cacheRoot: opts.cacheRoot } : {}) });
  const key = debianImageKey(request, fs.readFileSync(agent.path), opts.size);
  const spec = { cacheRoot: opts.cacheRoot ?? guestCacheRoot(), name: `debian-${request.suite}-${key}`,
    files: [DEBIAN_IMAGE_FILE], force: opts.force ?? false, log };
  let tookMs = 0;
  const result = await ensureCached(spec, async (workDir) => {
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      throw new Error('image build: --debian needs root (debootstrap makes device nodes and sets owners); ' +
        'run it as root, e.g. with sudo');
    }
    await ensurePackages(['debootstrap', 'e2fsprogs'], log);
    const started = Date.now();
    const tree = path.join(workDir, 'root');
    await debootstrapInto(request, tree, workDir, log);
    addAgentToTree(tree, agent.path);
    log('[image] writing the ext4 image (mkfs.ext4 -d) ...');
    const outDir = path.join(workDir, 'out');
    fs.mkdirSync(outDir);
    await makeExt4Image(tree, path.join(outDir, DEBIAN_IMAGE_FILE), opts.size);
    tookMs = Date.now() - started;
    return outDir;
  }, (workDir) => path.join(workDir, 'build.log'));
  const image = path.join(result.dir, DEBIAN_IMAGE_FILE);
  if (result.built) log(`[image] built in ${formatDuration(tookMs)}: ${describeImage(image, fs.statSync(image).size)}`);
  return { path: image, built: result.built };
}

/** The Debian image, then a sparse copy of it at `out`. */
export async function buildDebianImage(request: DebianImageRequest, opts: ImageBuildCommon & { force?: boolean })
  : Promise<{ path: string; cached: string; built: boolean }> {
  const image = await ensureDebianImage(request, opts);
  const partial = partialPath(opts.out);
  try {
    await copySparse(image.path, partial);
    fs.renameSync(partial, opts.out);
  } finally {
    fs.rmSync(partial, { force: true });
  }
  opts.log(`[image] ${image.built ? 'wrote' : 'copied the cached image to'} ${describeImage(opts.out, fs.statSync(opts.out).size)}`);
  return { path: opts.out, cached: image.path, built: image.built };
}
