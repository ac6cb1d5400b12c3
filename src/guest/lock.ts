// One build per cache folder at a time, across processes (two test runs may ask for the kernel together): a lock
// folder made with mkdir (atomic), holding the owner's pid. A lock whose owner is gone is taken over.
import * as fs from 'node:fs';
import * as path from 'node:path';

const POLL_MS = 2_000;
// A lock folder without a pid file is being created right now; after this long its creator is presumed dead.
const PIDLESS_GRACE_MS = 10_000;

export async function withBuildLock<T>(lockDir: string, log: (line: string) => void, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(path.dirname(lockDir), { recursive: true });
  let announced = false;
  for (;;) {
    if (tryAcquire(lockDir)) break;
    const owner = lockOwner(lockDir);
    if (owner === 'stale') {
      fs.rmSync(lockDir, { recursive: true, force: true });
      continue;
    }
    if (!announced) log(`[guest] waiting for another build (pid ${owner ?? '?'}) holding ${lockDir} ...`);
    announced = true;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
}

function tryAcquire(lockDir: string): boolean {
  try {
    fs.mkdirSync(lockDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  fs.writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
  return true;
}

/** The live owner's pid, undefined while the owner is still writing it, or 'stale'. */
function lockOwner(lockDir: string): number | undefined | 'stale' {
  let pidText: string;
  try {
    pidText = fs.readFileSync(path.join(lockDir, 'pid'), 'utf8');
  } catch {
    try {
      const age = Date.now() - fs.statSync(lockDir).mtimeMs;
      return age > PIDLESS_GRACE_MS ? 'stale' : undefined;
    } catch {
      return undefined; // removed meanwhile: the next mkdir decides
    }
  }
  const pid = Number(pidText.trim());
  if (!Number.isInteger(pid) || pid <= 0) return 'stale';
  return isAlive(pid) ? pid : 'stale';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
