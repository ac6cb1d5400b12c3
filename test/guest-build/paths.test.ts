import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { guestArtifactPath } from '../../src/guest/build';
import {
  findLinuxSourceTarball, guestCacheRoot, initramfsKey, isKernelArtifact, kernelKey, type LinuxSourceTarball,
} from '../../src/guest/paths';

test('cache root: $TSVMM_CACHE, then $XDG_CACHE_HOME/tsvmm, then ~/.cache/tsvmm', () => {
  assert.equal(guestCacheRoot({ TSVMM_CACHE: '/c/t', XDG_CACHE_HOME: '/x' }), '/c/t');
  assert.equal(guestCacheRoot({ XDG_CACHE_HOME: '/x' }), '/x/tsvmm');
  assert.equal(guestCacheRoot({}), path.join(os.homedir(), '.cache', 'tsvmm'));
});

test('the kernel key follows the fragment and the source tarball', () => {
  const tarball: LinuxSourceTarball = { path: '/s/linux-source-6.1.tar.xz', topDir: 'linux-source-6.1', size: 10, mtimeMs: 1 };
  const base = kernelKey('CONFIG_A=y\n', tarball);
  assert.match(base, /^[0-9a-f]{16}$/);
  assert.equal(kernelKey('CONFIG_A=y\n', { ...tarball }), base);
  assert.notEqual(kernelKey('CONFIG_A=n\n', tarball), base);
  assert.notEqual(kernelKey('CONFIG_A=y\n', { ...tarball, size: 11 }), base);
  assert.notEqual(kernelKey('CONFIG_A=y\n', { ...tarball, path: '/s/linux-source-6.2.tar.xz' }), base);
  assert.notEqual(initramfsKey('a'), initramfsKey('b'));
});

test('the newest linux-source tarball is found by version, not by string order', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-src-'));
  try {
    assert.equal(findLinuxSourceTarball(dir), undefined);
    for (const v of ['6.1', '6.10', '6.9', '5.15']) fs.writeFileSync(path.join(dir, `linux-source-${v}.tar.xz`), v);
    fs.writeFileSync(path.join(dir, 'linux-source-7.0.tar.bz2'), 'not xz');
    const t = findLinuxSourceTarball(dir)!;
    assert.equal(t.topDir, 'linux-source-6.10');
    assert.equal(t.size, 4);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(findLinuxSourceTarball(path.join(os.tmpdir(), 'no-such-dir-tsvmm')), undefined);
});

test('artifact paths: kernel files and initramfs files live in their own keyed folders', () => {
  const saved = process.env.TSVMM_CACHE;
  process.env.TSVMM_CACHE = path.join(os.tmpdir(), 'tsvmm-paths-test');
  try {
    assert.match(guestArtifactPath('vmlinux'), /tsvmm-paths-test\/kernel-[0-9a-f]{16}\/vmlinux$/);
    assert.match(guestArtifactPath('@guest/bzImage'), /kernel-[0-9a-f]{16}\/bzImage$/);
    assert.match(guestArtifactPath('initramfs.cpio'), /initramfs-[0-9a-f]{16}\/initramfs\.cpio$/);
    assert.match(guestArtifactPath('@guest/init-pause.cpio'), /initramfs-[0-9a-f]{16}\/init-pause\.cpio$/);
    assert.match(guestArtifactPath('@guest/test-kernel.elf'), /tsvmm-paths-test\/test-kernel-[0-9a-f]{16}\/test-kernel\.elf$/);
    assert.throws(() => guestArtifactPath('@guest/kernel'), /unknown name "@guest\/kernel" \(known: @guest\/vmlinux/);
    assert.ok(isKernelArtifact('bzImage') && !isKernelArtifact('initramfs.cpio'));
  } finally {
    if (saved === undefined) delete process.env.TSVMM_CACHE;
    else process.env.TSVMM_CACHE = saved;
  }
});
