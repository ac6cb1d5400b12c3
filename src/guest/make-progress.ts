// Turns kbuild's quiet output ("  CC      fs/ext4/inode.o") into a short progress line, so a build of several
// minutes shows it is alive without printing thousands of lines.

// kbuild's short command tags: two spaces, the tag, then the target.
const KBUILD_STEP = /^ {2}([A-Z][A-Z0-9_-]*(?: \[[A-Z]\])?)\s+(\S.*)$/;
const COMPILE_TAGS = new Set(['CC', 'AS', 'HOSTCC', 'HOSTCXX']);

export class MakeProgress {
  private compiled = 0;
  private steps = 0;
  private lastStep = '';

  /** Feeds one output line; returns true when it was a kbuild step. */
  addLine(line: string): boolean {
    const m = KBUILD_STEP.exec(line);
    if (!m) return false;
    this.steps++;
    if (COMPILE_TAGS.has(m[1]!)) this.compiled++;
    this.lastStep = `${m[1]} ${m[2]}`;
    return true;
  }

  get objectsCompiled(): number {
    return this.compiled;
  }

  /** e.g. `[guest] kernel: 312 objects compiled, 1m05s (CC fs/ext4/inode.o)` */
  summary(elapsedMs: number): string {
    const last = this.lastStep ? ` (${this.lastStep})` : '';
    return `[guest] kernel: ${this.compiled} objects compiled, ${formatDuration(elapsedMs)}${last}`;
  }
}

export function formatDuration(ms: number): string {
  const totalSeconds = Math.max(0, Math.round(ms / 1000));
  const minutes = Math.floor(totalSeconds / 60);
  const seconds = totalSeconds % 60;
  return minutes > 0 ? `${minutes}m${String(seconds).padStart(2, '0')}s` : `${seconds}s`;
}
