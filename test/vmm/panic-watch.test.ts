import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PanicWatch } from '../../src/vmm/panic-watch';

const feed = (w: PanicWatch, s: string): void => w.feed(Buffer.from(s, 'latin1'));

test('finds a panic whose marker and line are split across chunks', () => {
  const seen: string[] = [];
  const w = new PanicWatch((l) => seen.push(l));
  feed(w, '[ 1.0] ok\n[ 64.1] Kernel pa');
  assert.equal(w.panicLine, undefined);
  feed(w, 'nic - not syncing: VFS: Unable');
  assert.equal(seen.length, 1);
  feed(w, ' to mount root fs\n[ 64.2] Kernel Offset: disabled\n');
  assert.equal(w.panicLine, 'Kernel panic - not syncing: VFS: Unable to mount root fs');
  feed(w, 'Kernel panic - not syncing: again\n');
  assert.equal(seen.length, 1);
});

test('ordinary output is no panic', () => {
  const w = new PanicWatch(() => assert.fail('no panic expected'));
  feed(w, 'Kernel is fine\npanic=-1 on the command line\n');
  assert.equal(w.panicLine, undefined);
});
