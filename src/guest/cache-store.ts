// Folders in the guest cache that are built once and then only read: <cache>/<name>/. A build runs in
// <cache>/tmp-<name>-XXXX under a lock (concurrent callers build once) and its result is renamed into place, so
// a folder that exists is complete. Deleting a kernel tree takes minutes on a disk mounted with `discard`, so
// temporary folders are renamed to trash-* and removed by a detached `rm -rf` that the caller does not wait for.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withBuildLock } from './lock';

export interface CachedBuild {
  cacheRoot: string;
  /** The folder's name in the cache, e.g. kernel-<key>. */
  name: string;
  /** Files that must exist (non-empty) in a finished folder. */
  files: string[];
  force: boolean;
  log: (line: string) => void;
}

export interface CachedResult {
  dir: string;
  built: boolean;
}

/**
 * Returns <cacheRoot>/<name>, building it first when missing (or when forced). `build` gets a fresh work folder
 * and returns (or resolves with) the folder inside it to publish. A failed build leaves <name>.failed.log when the
 * work folder had a build.log at the path `failedLog` names.
 */
export async function ensureCached(spec: CachedBuild, build: (workDir: string) => string | Promise<string>,
  failedLog?: (workDir: string) => string): Promise<CachedResult> {
  const finalDir = path.join(spec.cacheRoot, spec.name);
  if (!spec.force && isComplete(finalDir, spec.files)) return { dir: finalDir, built: false };
  fs.mkdirSync(spec.cacheRoot, { recursive: true });
  return withBuildLock(path.join(spec.cacheRoot, `lock-${spec.name}`), spec.log, async () => {
    if (!spec.force && isComplete(finalDir, spec.files)) return { dir: finalDir, built: false };
    discardLeftovers(spec.cacheRoot, `tmp-${spec.name}-`);
    const workDir = fs.mkdtempSync(path.join(spec.cacheRoot, `tmp-${spec.name}-`));
    try {
      publish(await build(workDir), finalDir, spec.cacheRoot);
    } catch (err) {
      if (failedLog) keepFailedLog(failedLog(workDir), `${finalDir}.failed.log`, err);
      throw err;
    } finally {
      discard(workDir, spec.cacheRoot);
    }
    return { dir: finalDir, built: true };
  });
}

function publish(resultDir: string, finalDir: string, cacheRoot: string): void {
  if (fs.existsSync(finalDir)) discard(finalDir, cacheRoot);
  fs.renameSync(resultDir, finalDir);
  fs.rmSync(`${finalDir}.failed.log`, { force: true });
}

function keepFailedLog(buildLog: string, target: string, err: unknown): void {
  if (!fs.existsSync(buildLog)) return;
  fs.copyFileSync(buildLog, target);
  if (err instanceof Error) err.message += `\n(full build output: ${target})`;
}

// Temporary folders of a killed build of this name; we hold the name's lock, so none of them is in use.
function discardLeftovers(cacheRoot: string, prefix: string): void {
  for (const entry of fs.readdirSync(cacheRoot)) {
    if (entry.startsWith(prefix)) discard(path.join(cacheRoot, entry), cacheRoot);
  }
}

/** Moves a folder out of the way at once (a rename) and deletes it in the background. */
export function discard(dir: string, cacheRoot: string): void {
  if (!fs.existsSync(dir)) return;
  const trash = fs.mkdtempSync(path.join(cacheRoot, 'trash-'));
  fs.renameSync(dir, path.join(trash, 'x'));
  removeInBackground(trash);
}

/** Deletes trash folders that an earlier background `rm` did not finish (it was killed, or the machine stopped). */
export function emptyTrash(cacheRoot: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(cacheRoot);
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry.startsWith('trash-')) removeInBackground(path.join(cacheRoot, entry));
  }
}

function removeInBackground(dir: string): void {
  try {
    const child = spawn('rm', ['-rf', '--', dir], { detached: true, stdio: 'ignore' });
    child.on('error', () => fs.rmSync(dir, { recursive: true, force: true }));
    child.unref();
  } catch {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function isComplete(dir: string, files: string[]): boolean {
  return files.every((f) => isNonEmptyFile(path.join(dir, f)));
}

export function isNonEmptyFile(file: string): boolean {
  try {
    return fs.statSync(file).size > 0;
  } catch {
    return false;
  }
}
