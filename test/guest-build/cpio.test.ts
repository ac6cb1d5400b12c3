import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CpioError, writeNewcArchive } from '../../src/guest/cpio';
import { busyboxInitramfsEntries, pauseInitramfsEntries } from '../../src/guest/initramfs';
import { readNewc } from './newc-reader';

test('each entry type gets its mode bits, size and device numbers', () => {
  const archive = writeNewcArchive([
    { type: 'dir', path: 'dev' },
    { type: 'char', path: 'dev/console', major: 5, minor: 1 },
    { type: 'block', path: 'dev/vda', major: 254, minor: 0, mode: 0o660 },
    { type: 'file', path: 'init', data: Buffer.from('abcde'), mode: 0o755 },
    { type: 'symlink', path: 'sh', target: '/bin/busybox' },
  ]);
  const recs = readNewc(archive);
  assert.deepEqual(recs.map((r) => r.name), ['dev', 'dev/console', 'dev/vda', 'init', 'sh']);
  assert.deepEqual(recs.map((r) => r.mode.toString(8)), ['40755', '20600', '60660', '100755', '120777']);
  assert.deepEqual([recs[1]!.rdevMajor, recs[1]!.rdevMinor], [5, 1]);
  assert.deepEqual([recs[2]!.rdevMajor, recs[2]!.rdevMinor], [254, 0]);
  assert.equal(recs[3]!.data.toString(), 'abcde');
  assert.equal(recs[4]!.data.toString(), '/bin/busybox');
  assert.equal(recs[0]!.nlink, 2);
});

test('headers and data start on 4-byte boundaries, inodes are distinct, owner and time are zero', () => {
  // Names and data of every length mod 4 exercise each padding case.
  const entries = [1, 2, 3, 4, 5].map((n) => ({
    type: 'file' as const, path: 'f'.repeat(n), data: Buffer.alloc(n, n),
  }));
  const recs = readNewc(writeNewcArchive(entries));
  for (const r of recs) {
    assert.equal(r.offset % 4, 0);
    assert.equal(r.data.length, r.name.length);
    assert.ok(r.data.every((b) => b === r.name.length));
    assert.deepEqual([r.uid, r.gid, r.mtime, r.check], [0, 0, 0, 0]);
  }
  assert.equal(new Set(recs.map((r) => r.ino)).size, recs.length);
});

test('the same entries give byte-identical archives', () => {
  const entries = busyboxInitramfsEntries(Buffer.from('not really busybox'));
  assert.deepEqual(writeNewcArchive(entries), writeNewcArchive(entries));
});

test('an empty archive is just the trailer', () => {
  const archive = writeNewcArchive([]);
  assert.deepEqual(readNewc(archive), []);
  assert.equal(archive.length % 4, 0);
  assert.match(archive.toString('ascii'), /TRAILER!!!/);
});

test('bad paths, duplicates, modes and device numbers are refused with the path named', () => {
  const bad: [Parameters<typeof writeNewcArchive>[0], RegExp][] = [
    [[{ type: 'dir', path: '/abs' }], /"\/abs".*relative/],
    [[{ type: 'dir', path: 'a/../b' }], /"a\/..\/b".*\.\./],
    [[{ type: 'dir', path: 'a//b' }], /empty/],
    [[{ type: 'dir', path: '' }], /relative/],
    [[{ type: 'dir', path: 'x' }, { type: 'dir', path: 'x' }], /"x": appears twice/],
    [[{ type: 'dir', path: 'TRAILER!!!' }], /end-of-archive/],
    [[{ type: 'file', path: 'm', data: Buffer.alloc(0), mode: 0o10000 }], /"m": mode 4096/],
    [[{ type: 'char', path: 'c', major: -1, minor: 0 }], /"c": major -1/],
    [[{ type: 'char', path: 'c', major: 1, minor: 2 ** 32 }], /"c": minor 4294967296/],
    [[{ type: 'symlink', path: 'l', target: '' }], /"l": symlink target is empty/],
  ];
  for (const [entries, message] of bad) {
    assert.throws(() => writeNewcArchive(entries), (err: unknown) => err instanceof CpioError && message.test(err.message));
  }
});

test('the busybox image has /init, /dev/console (5,1) and the mount points', () => {
  const recs = readNewc(writeNewcArchive(busyboxInitramfsEntries(Buffer.from('BB'))));
  const byName = new Map(recs.map((r) => [r.name, r]));
  assert.equal(byName.get('init')!.data.toString(), '/bin/busybox');
  assert.equal(byName.get('bin/busybox')!.data.toString(), 'BB');
  const console = byName.get('dev/console')!;
  assert.deepEqual([console.mode & 0o170000, console.rdevMajor, console.rdevMinor], [0o020000, 5, 1]);
  for (const dir of ['dev', 'proc', 'sys']) assert.equal(byName.get(dir)!.mode & 0o170000, 0o040000, dir);
  // A directory comes before anything inside it, as the kernel's unpacker needs.
  const names = recs.map((r) => r.name);
  for (const name of names) {
    const parent = name.split('/').slice(0, -1).join('/');
    if (parent) assert.ok(names.indexOf(parent) < names.indexOf(name), `${parent} before ${name}`);
  }
});

test('the pause image has an executable /init with the given bytes', () => {
  const recs = readNewc(writeNewcArchive(pauseInitramfsEntries(Buffer.from([0xf3, 0x90, 0xeb, 0xfc]))));
  const init = recs.find((r) => r.name === 'init')!;
  assert.deepEqual([...init.data], [0xf3, 0x90, 0xeb, 0xfc]);
  assert.equal(init.mode, 0o100755);
});

test('GNU cpio lists and reads the archive the same way', (t) => {
  if (spawnSync('cpio', ['--version']).status !== 0) return t.skip('cpio is not installed');
  const archive = writeNewcArchive([
    { type: 'dir', path: 'dev' },
    { type: 'char', path: 'dev/console', major: 5, minor: 1 },
    { type: 'file', path: 'hello', data: Buffer.from('hi\n'), mode: 0o755 },
    { type: 'symlink', path: 'init', target: 'hello' },
  ]);
  const listed = spawnSync('cpio', ['-t', '--quiet'], { input: archive });
  assert.equal(listed.status, 0, listed.stderr.toString());
  assert.deepEqual(listed.stdout.toString().trim().split('\n'), ['dev', 'dev/console', 'hello', 'init']);
  const extracted = spawnSync('cpio', ['-i', '--quiet', '--to-stdout', 'hello'], { input: archive });
  assert.equal(extracted.stdout.toString(), 'hi\n');
});
