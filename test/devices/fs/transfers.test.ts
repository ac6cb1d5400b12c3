// virtio-fs READ and WRITE move every byte asked for: a READ comes back short only at the end of the file, and a
// WRITE the host cannot finish (a full file system) is an error, never a success for fewer bytes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { FuseClient, ROOT } from './fuse-client';

const { O_RDWR } = fs.constants;
const KiB = 1024;

function pattern(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 13 + (i >> 9)) & 0xff;
  return b;
}

const mount = (dir: string, size: string): boolean =>
  spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' }).status === 0;

const canMount = ((): boolean => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-fs-probe-'));
  const ok = mount(dir, '64k');
  if (ok) spawnSync('umount', [dir], { stdio: 'ignore' });
  fs.rmdirSync(dir);
  return ok;
})();

test('a READ over more buffers than IOV_MAX fills every one of them', async () => {
  const data = pattern(600 * KiB);
  const c = new FuseClient({ populate: (share) => fs.writeFileSync(path.join(share, 'f'), data) });
  try {
    await c.init();
    const node = (await c.lookup(ROOT, 'f')).nodeid;
    const fh = await c.open(node, O_RDWR);
    const size = 1037 * 512 - 16; // with the 16-byte reply header, 1037 buffers of 512 bytes
    const r = await c.read(node, fh, 4096, size, size + 16, { split: 512 });
    assert.equal(r.error, 0);
    assert.equal(r.len, 16 + size, 'not short: the file holds all of it');
    assert.ok(r.body.subarray(0, size).equals(data.subarray(4096, 4096 + size)));
  } finally { c.close(); }
});

test('a WRITE over more buffers than IOV_MAX lands whole', async () => {
  const c = new FuseClient();
  try {
    await c.init();
    const { entry, fh } = await c.create(ROOT, 'g', 0o644, O_RDWR);
    const data = pattern(1030 * 512);
    const w = await c.write(entry.nodeid, fh, 0, data, data.length, { split: 512, room: 512 });
    assert.equal(w.error, 0);
    assert.equal(w.body.readUInt32LE(0), data.length);
    assert.ok(fs.readFileSync(path.join(c.share, 'g')).equals(data));
  } finally { c.close(); }
});

test('a WRITE that fills the file system partway is ENOSPC, not a short success', { skip: !canMount && 'cannot mount a tmpfs' }, async () => {
  let share = '';
  const c = new FuseClient({ populate: (s) => { share = s; assert.ok(mount(s, '256k')); } });
  try {
    await c.init();
    const { entry, fh } = await c.create(ROOT, 'big', 0o644, O_RDWR);
    const w = await c.write(entry.nodeid, fh, 0, pattern(384 * KiB));
    assert.ok(fs.statSync(path.join(share, 'big')).size < 384 * KiB, 'the write did not fit');
    assert.equal(w.error, -os.constants.errno.ENOSPC);
  } finally {
    // Detached now, gone once the device closes its fds.
    spawnSync('umount', ['-l', share], { stdio: 'ignore' });
    c.close();
  }
});
