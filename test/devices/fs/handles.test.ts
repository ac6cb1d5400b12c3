import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { HandleTable } from '../../../src/devices/fs/handles';

const isOpen = (fd: number): boolean => { try { fs.fstatSync(fd); return true; } catch { return false; } };

test('a handle released while a request uses its fd closes only when that request is done', async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-handles-')), 'f');
  fs.writeFileSync(file, 'x');
  const t = new HandleTable();
  const fd = fs.openSync(file, 'r');
  const fh = t.add(fd, false, false);
  let finish!: () => void;
  const busy = t.using(t.get(BigInt(fh), false), () => new Promise<void>((r) => { finish = r; }));
  t.release(BigInt(fh), false);
  assert.equal(t.size, 0);
  assert.ok(isOpen(fd), 'still open while in use');
  assert.throws(() => t.get(BigInt(fh), false), /unknown file handle/);
  finish();
  await busy;
  assert.ok(!isOpen(fd), 'closed after the request');
  fs.rmSync(path.dirname(file), { recursive: true });
});
