import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  buildTestKernel, checkTestKernel, compilerIdentity, listTestKernelSources, TEST_KERNEL_NAME, testKernelGccArgs,
  testKernelKey, testKernelSourceDir,
} from '../../src/guest/test-kernel';
import { pvhElf } from '../helpers/pvh-elf';

const made: string[] = [];
after(() => { for (const dir of made) fs.rmSync(dir, { recursive: true, force: true }); });

function tempDir(files: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-test-kernel-'));
  made.push(dir);
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

const TREE = { 'linker.ld': 'SECTIONS {}', 'boot.S': 'nop', 'a.c': 'int a;', 'a.h': '', 'tests/t.c': 'int t;',
  'README': 'not a source', 'tests/notes.txt': 'x' };

test('the sources are every .c, .S, .h and .ld file, sorted; gcc compiles the .c and .S ones', () => {
  const s = listTestKernelSources(tempDir(TREE));
  assert.deepEqual(s.files, ['a.c', 'a.h', 'boot.S', 'linker.ld', 'tests/t.c']);
  assert.deepEqual(s.compile, ['a.c', 'boot.S', 'tests/t.c']);
  assert.throws(() => listTestKernelSources(tempDir({ 'a.c': '' })), /has no linker\.ld/);
});

test('the key follows file contents, file names and the compiler, and nothing else', () => {
  const dir = tempDir(TREE);
  const key = testKernelKey(listTestKernelSources(dir), 'gcc 12.2.0');
  assert.match(key, /^[0-9a-f]{16}$/);
  assert.equal(testKernelKey(listTestKernelSources(dir), 'gcc 12.2.0'), key);
  assert.notEqual(testKernelKey(listTestKernelSources(dir), 'gcc 13.1.0'), key);
  assert.notEqual(testKernelKey(listTestKernelSources(dir), undefined), key);
  fs.writeFileSync(path.join(dir, 'a.h'), '#define X 1\n');
  const edited = testKernelKey(listTestKernelSources(dir), 'gcc 12.2.0');
  assert.notEqual(edited, key);
  fs.renameSync(path.join(dir, 'a.c'), path.join(dir, 'b.c'));
  assert.notEqual(testKernelKey(listTestKernelSources(dir), 'gcc 12.2.0'), edited);
});

test('gcc gets freestanding static flags, the linker script, the output and every compiled file', () => {
  const dir = tempDir(TREE);
  const args = testKernelGccArgs(listTestKernelSources(dir), '/out/k.elf');
  for (const flag of ['-ffreestanding', '-nostdlib', '-static', '-fno-pic', '-mno-red-zone', '-mgeneral-regs-only']) {
    assert.ok(args.includes(flag), flag);
  }
  assert.equal(args[args.indexOf('-T') + 1], path.join(dir, 'linker.ld'));
  assert.equal(args[args.indexOf('-o') + 1], '/out/k.elf');
  assert.deepEqual(args.slice(-3), ['a.c', 'boot.S', 'tests/t.c'].map((f) => path.join(dir, f)));
});

test('the package carries the test kernel sources', () => {
  const s = listTestKernelSources(testKernelSourceDir());
  for (const f of ['boot.S', 'kernel.c', 'main.c', 'virtio.c', 'virtio-blk.c', 'tests/table.c', 'tests/blk.c']) {
    assert.ok(s.compile.includes(f), f);
  }
});

test('a missing compiler is named in the error, with how to install one', async () => {
  assert.equal(compilerIdentity('tsvmm-no-such-cc'), undefined);
  await assert.rejects(buildTestKernel({ cc: 'tsvmm-no-such-cc', cacheRoot: tempDir(), log: () => {} }),
    /`tsvmm-no-such-cc` is not installed.*apt-get install gcc/);
});

test('a build is checked for the PVH entry note', () => {
  const dir = tempDir();
  const good = path.join(dir, 'good.elf');
  fs.writeFileSync(good, pvhElf(Uint8Array.from([0xf4])));
  checkTestKernel(good);
  const noNote = pvhElf(Uint8Array.from([0xf4]));
  noNote.writeUInt32LE(0, 64 + 56); // the PT_NOTE header becomes PT_NULL
  fs.writeFileSync(path.join(dir, 'no-note.elf'), noNote);
  assert.throws(() => checkTestKernel(path.join(dir, 'no-note.elf')), /no PVH entry note/);
  fs.writeFileSync(path.join(dir, 'text.elf'), 'hello');
  assert.throws(() => checkTestKernel(path.join(dir, 'text.elf')), /not an x86-64 ELF executable/);
});

const noGcc = compilerIdentity('gcc') === undefined ? 'gcc is not installed' : undefined;

test('with gcc, the real sources build into a bootable ELF once, then come from the cache', { skip: noGcc, timeout: 120_000 }, async () => {
  const cacheRoot = tempDir();
  const first = await buildTestKernel({ cacheRoot, log: () => {} });
  assert.equal(first.built, true);
  assert.equal(path.basename(first.path), TEST_KERNEL_NAME);
  checkTestKernel(first.path);
  const second = await buildTestKernel({ cacheRoot, log: () => {} });
  assert.deepEqual(second, { path: first.path, built: false });
});
