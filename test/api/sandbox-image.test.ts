// createSandbox({ image }): an ext4 root image told from an initramfs by its first bytes, and the machine a sandbox
// boots from each; errors name `image`.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { createSandbox, sandboxConfig, SANDBOX_CMDLINE } from '../../src/api/sandbox';
import { detectSandboxImage, EXT4_ROOT_CMDLINE, imageKindOf } from '../../src/api/sandbox-image';
import { writeNewcArchive } from '../../src/guest/cpio';
import { ConfigError } from '../../src/vmm/config-check';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-sandbox-image-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

/** A file that starts like an ext4 file system: zeros, and the superblock's magic at byte 1080. */
function ext4Head(): Buffer {
  const b = Buffer.alloc(4096);
  b.writeUInt16LE(0xef53, 1080);
  return b;
}

test('imageKindOf: the ext4 magic at byte 1080, or a cpio / compressed initramfs; anything else is neither', () => {
  assert.equal(imageKindOf(ext4Head()), 'ext4');
  assert.equal(imageKindOf(ext4Head().subarray(0, 1081)), undefined, 'too short to hold the magic');
  assert.equal(imageKindOf(writeNewcArchive([{ type: 'dir', path: 'x' }])), 'initramfs');
  assert.equal(imageKindOf(Buffer.from([0x1f, 0x8b, 8, 0])), 'initramfs');
  assert.equal(imageKindOf(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0])), 'initramfs');
  const swapped = Buffer.alloc(2048);
  swapped.writeUInt16BE(0xef53, 1080);
  assert.equal(imageKindOf(swapped), undefined);
  assert.equal(imageKindOf(Buffer.from('#!/bin/sh\n')), undefined);
});

test('detectSandboxImage reads the file; errors name image', () => {
  const ext4 = path.join(tmp, 'root.img');
  fs.writeFileSync(ext4, ext4Head());
  assert.deepEqual(detectSandboxImage(ext4), { kind: 'ext4', path: ext4 });
  const cpio = path.join(tmp, 'i.cpio');
  fs.writeFileSync(cpio, writeNewcArchive([{ type: 'dir', path: 'x' }]));
  assert.deepEqual(detectSandboxImage(cpio), { kind: 'initramfs', path: cpio });
  const text = path.join(tmp, 'notes.txt');
  fs.writeFileSync(text, 'hello');
  const named = (re: RegExp) => (e: unknown): boolean => e instanceof ConfigError && e.field === 'image' && re.test(e.message);
  assert.throws(() => detectSandboxImage(text), named(/neither an ext4 root image .* nor an initramfs/));
  assert.throws(() => detectSandboxImage(path.join(tmp, 'none.img')), named(/cannot read .*ENOENT/));
  assert.throws(() => detectSandboxImage(tmp), named(/not a regular file/));
});

test('sandboxConfig for an ext4 image: no initrd, the disk read-only, the root and init on the command line', () => {
  const c = sandboxConfig({ memory: '512M', append: 'loglevel=4', net: true }, { kind: 'ext4', path: '/i/root.img' }, '/d/agent.sock');
  assert.equal(c.initrd, undefined);
  assert.deepEqual(c.devices, [
    { type: 'blk', path: '/i/root.img', readonly: true },
    { type: 'vsock', cid: 3, socket: '/d/agent.sock' },
    { type: 'net' },
  ]);
  assert.equal(c.cmdline, `${SANDBOX_CMDLINE} root=/dev/vda ro rootfstype=ext4 init=/sbin/tsvmm-agent loglevel=4`);
  assert.equal(EXT4_ROOT_CMDLINE, 'root=/dev/vda ro rootfstype=ext4 init=/sbin/tsvmm-agent');
  const initramfs = sandboxConfig({}, { kind: 'initramfs', path: '/i/x.cpio' }, '/s');
  assert.deepEqual([initramfs.initrd, initramfs.cmdline, initramfs.devices], ['/i/x.cpio', SANDBOX_CMDLINE, [{ type: 'vsock', cid: 3, socket: '/s' }]]);
});

test('createSandbox refuses an image that is neither, naming image, before anything boots', async () => {
  const text = path.join(tmp, 'neither.bin');
  fs.writeFileSync(text, Buffer.alloc(2048, 7));
  await assert.rejects(createSandbox({ image: text }), (e: unknown) => e instanceof ConfigError && e.field === 'image');
  await assert.rejects(createSandbox({ image: path.join(tmp, 'missing.img') }),
    (e: unknown) => e instanceof ConfigError && e.field === 'image' && /ENOENT/.test(e.message));
});
