// The full-transfer helpers every device uses for file bytes: a transfer that stops short comes back as the
// kernel's error, never as a smaller count.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { writeAllSync } from '../../src/devices/file-io';

function tmpfs(size: string): string | undefined {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-io-full-'));
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' }).status === 0) return dir;
  fs.rmdirSync(dir);
  return undefined;
}

const probe = tmpfs('64k');
if (probe !== undefined) { spawnSync('umount', [probe]); fs.rmdirSync(probe); }

test('writeAllSync (the console log files): a write that fills the file system throws ENOSPC', { skip: probe === undefined && 'cannot mount a tmpfs' }, () => {
  const dir = tmpfs('64k')!;
  const fd = fs.openSync(path.join(dir, 'console.log'), 'a');
  try {
    assert.throws(() => writeAllSync(fd, Buffer.alloc(96 * 1024, 0x41)), { code: 'ENOSPC' });
  } finally {
    fs.closeSync(fd);
    spawnSync('umount', [dir]);
    fs.rmdirSync(dir);
  }
});
