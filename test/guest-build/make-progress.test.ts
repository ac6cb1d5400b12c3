import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, MakeProgress } from '../../src/guest/make-progress';

test('kbuild steps are counted; compile steps are the objects', () => {
  const p = new MakeProgress();
  const lines = [
    'make[1]: Entering directory \'/x\'',
    '  SYNC    include/config/auto.conf',
    '  HOSTCC  scripts/basic/fixdep',
    '  CC      init/main.o',
    '  AS      arch/x86/kernel/head_64.o',
    '  LD      vmlinux.o',
    'arch/x86/kernel/foo.c:12: warning: unused variable',
    '  CC [M]  fs/fuse/inode.o',
    '  AR      lib/lib.a',
  ];
  const steps = lines.map((l) => p.addLine(l));
  assert.deepEqual(steps, [false, true, true, true, true, true, false, true, true]);
  assert.equal(p.objectsCompiled, 3);
  assert.equal(p.summary(65_000), '[guest] kernel: 3 objects compiled, 1m05s (AR lib/lib.a)');
});

test('a summary before any step has no "last step" part', () => {
  assert.equal(new MakeProgress().summary(4_400), '[guest] kernel: 0 objects compiled, 4s');
});

test('durations', () => {
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(59_499), '59s');
  assert.equal(formatDuration(60_000), '1m00s');
  assert.equal(formatDuration(754_000), '12m34s');
  assert.equal(formatDuration(-5), '0s');
});
