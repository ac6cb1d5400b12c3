// Root file system images for sandboxes: an ext4 image made with `mkfs.ext4 -d` from a folder that holds the agent
// at /sbin/tsvmm-agent (the kernel runs it as init) and the mount points it needs as PID 1. The image is meant to be
// attached read-only (one image, many sandboxes), so it has no journal and no blocks reserved for root; it is sparse, so its size costs nothing
// until written.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCommand } from './exec';

/** Where the image's init lives; the sandbox's kernel command line names it. */
export const IMAGE_AGENT_PATH = 'sbin/tsvmm-agent';
/** Folders the agent mounts on as PID 1: on a read-only root they cannot be made at boot. */
export const IMAGE_MOUNT_POINTS: readonly string[] = ['proc', 'sys', 'dev', 'tmp', 'run', 'var/tmp'];

const MIB = 1024 * 1024;
const BLOCK = 4096;
/** Space beyond the tree's: a quarter more, plus a fixed amount for the file system's own tables. */
const HEADROOM_FRACTION = 0.25;
const HEADROOM_FIXED = 32 * MIB;

export interface TreeUsage {
  /** Bytes the tree takes in 4 KiB blocks (directories and symlinks count one block each). */
  bytes: number;
  /** Files, folders, links and device nodes. */
  inodes: number;
}

/** What a tree needs on disk; links are not followed. */
export function treeUsage(root: string): TreeUsage {
  const usage: TreeUsage = { bytes: 0, inodes: 0 };
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      usage.inodes++;
      if (entry.isDirectory()) {
        usage.bytes += BLOCK;
        walk(p);
      } else if (entry.isFile()) {
        usage.bytes += Math.ceil(fs.lstatSync(p).size / BLOCK) * BLOCK;
      } else {
        usage.bytes += BLOCK;
      }
    }
  };
  walk(root);
  return usage;
}

/** The default image size for a tree: its usage plus headroom, in whole MiB. */
export function defaultImageSize(usage: TreeUsage): number {
  const bytes = usage.bytes * (1 + HEADROOM_FRACTION) + HEADROOM_FIXED;
  return Math.ceil(bytes / MIB) * MIB;
}

/** Inodes for the tree and as many again (mkfs's default ratio runs short on trees of many small files). */
export function inodeCount(usage: TreeUsage): number {
  return Math.max(4096, usage.inodes * 2);
}

/**
 * `rel` inside `root`, following the tree's own symlinks the way the guest will see them: an absolute target is
 * taken from `root`, never from this machine's /, and `..` stops at `root`. (Debian's /sbin is a link to usr/sbin.)
 */
export function resolveInTree(root: string, rel: string): string {
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  const resolved: string[] = [];
  let hops = 0;
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const here = path.join(root, ...resolved, part);
    let target: string | undefined;
    try {
      if (fs.lstatSync(here).isSymbolicLink()) target = fs.readlinkSync(here);
    } catch {
      // Not there yet: it will be made as a folder or file.
    }
    if (target === undefined) {
      resolved.push(part);
      continue;
    }
    if (++hops > 40) throw new Error(`image build: too many symbolic links under ${path.join(root, rel)}`);
    if (target.startsWith('/')) resolved.length = 0;
    parts.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
  }
  return path.join(root, ...resolved);
}

/** Puts the agent at /sbin/tsvmm-agent and makes the mount points the agent needs. */
export function addAgentToTree(root: string, agentBinary: string): void {
  for (const dir of IMAGE_MOUNT_POINTS) fs.mkdirSync(resolveInTree(root, dir), { recursive: true });
  fs.chmodSync(resolveInTree(root, 'tmp'), 0o1777);
  fs.chmodSync(resolveInTree(root, 'var/tmp'), 0o1777);
  const target = resolveInTree(root, IMAGE_AGENT_PATH);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.rmSync(target, { force: true });
  fs.copyFileSync(agentBinary, target);
  fs.chmodSync(target, 0o755);
}

/** Writes `image` (sparse, `size` bytes or the tree's default) as ext4 holding `tree`. */
export async function makeExt4Image(tree: string, image: string, size?: number): Promise<{ size: number }> {
  const usage = treeUsage(tree);
  const bytes = size ?? defaultImageSize(usage);
  if (bytes < usage.bytes + HEADROOM_FIXED / 2) {
    throw new Error(`image build: --size ${bytes} bytes is too small for ${tree} (it needs about ` +
      `${Math.ceil(defaultImageSize(usage) / MIB)} MiB)`);
  }
  fs.rmSync(image, { force: true });
  fs.closeSync(fs.openSync(image, 'w'));
  fs.truncateSync(image, bytes);
  try {
    await runCommand('mkfs.ext4', ['-q', '-F', '-L', 'tsvmm-root', '-m', '0', '-O', '^has_journal', '-N', String(inodeCount(usage)),
      '-E', 'lazy_itable_init=1,nodiscard', '-d', tree, image]);
  } catch (e) {
    fs.rmSync(image, { force: true });
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('image build: mkfs.ext4 is not installed (install e2fsprogs)', { cause: e });
    }
    throw e;
  }
  return { size: bytes };
}

/** Copies an image keeping its holes (a clone where the file system can). */
export async function copySparse(from: string, to: string): Promise<void> {
  await runCommand('cp', ['--sparse=always', '--reflink=auto', '--', from, to]);
}

/** Bytes the file really takes on disk (its blocks), for a progress line about sparseness. */
export function allocatedBytes(file: string): number {
  return fs.statSync(file).blocks * 512;
}
