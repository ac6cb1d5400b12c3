import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { E, FATTR, OP, RENAME_EXCHANGE, RENAME_NOREPLACE, S_IFDIR, S_IFLNK, S_IFMT } from '../../../src/devices/fs/protocol';
import { FuseClient, pack, ROOT } from './fuse-client';

const { O_RDONLY, O_RDWR } = fs.constants;

async function withClient(fn: (c: FuseClient) => Promise<void>, opts?: ConstructorParameters<typeof FuseClient>[0]) {
  const c = new FuseClient(opts);
  try {
    await fn(c);
  } finally {
    c.close();
  }
}

test('config space carries the tag and one request queue; two queues', () => {
  const c = new FuseClient();
  try {
    const cfg = Buffer.from(c.dev.configSpace());
    assert.equal(c.dev.deviceType, 26);
    assert.equal(c.dev.queueMaxSizes.length, 2);
    assert.equal(cfg.length, 40);
    assert.equal(cfg.toString('utf8', 0, 6), 'share0');
    assert.ok(cfg.subarray(6, 36).every((b) => b === 0));
    assert.equal(cfg.readUInt32LE(36), 1);
  } finally { c.close(); }
});

test('INIT negotiates down to 7.31 and the flags both sides know, without DAX; nothing is served before it', () =>
  withClient(async (c) => {
    assert.equal((await c.call(OP.LOOKUP, pack('x'))).error, -E.EIO);
    const out = await c.init(37, 0xffffffff);
    assert.equal(out.length, 64);
    assert.equal(out.readUInt32LE(0), 7);
    assert.equal(out.readUInt32LE(4), 31);
    const flags = out.readUInt32LE(12);
    assert.equal(flags & (1 << 26), 0, 'no FUSE_MAP_ALIGNMENT');
    assert.equal(flags & (1 << 1), 0, 'no POSIX locks');
    assert.ok(flags & (1 << 13), 'READDIRPLUS');
    assert.equal(out.readUInt32LE(20), 1 << 20);
    assert.equal(out.readUInt16LE(28), 256);
    // A guest that offered fewer flags gets no more than it offered.
    const again = await c.call(OP.INIT, pack(['u32', 7], ['u32', 31], ['u32', 0], ['u32', 1]));
    assert.notEqual(again.error, 0, 'a second INIT is refused');
  }));

test('an INIT refused for want of reply room leaves the session uninitialised', () => withClient(async (c) => {
  const args = pack(['u32', 7], ['u32', 31], ['u32', 0], ['u32', 0], ['u32', 0], Buffer.alloc(44));
  const short = await c.call(OP.INIT, args, { room: 16 + 40 });
  assert.equal(short.error, -E.ERANGE);
  assert.equal((await c.call(OP.LOOKUP, pack('x'))).error, -E.EIO, 'nothing served yet');
  assert.equal((await c.init(31)).readUInt32LE(4), 31, 'a later INIT is the first');
}));

test('an older guest gets its own minor and the short init reply', () => withClient(async (c) => {
  const out = await c.init(22, 1 << 13);
  assert.equal(out.length, 24);
  assert.equal(out.readUInt32LE(4), 22);
  assert.equal(out.readUInt32LE(12), 1 << 13);
}));

test('lookup and getattr see host files; two names of one file are one node; forget releases it', () =>
  withClient(async (c) => {
    await c.init();
    const e = await c.lookup(ROOT, 'hello.txt');
    assert.equal(e.attr.size, 6n);
    assert.equal(e.attr.mode, 0o100640);
    assert.equal(e.attr.ino, BigInt(fs.statSync(path.join(c.share, 'hello.txt')).ino));
    const again = await c.lookup(ROOT, 'again.txt');
    assert.equal(again.nodeid, e.nodeid);
    assert.equal((await c.getattr(e.nodeid)).nlink, 2);
    assert.equal((await c.getattr(ROOT)).mode & S_IFMT, S_IFDIR);
    assert.equal((await c.call(OP.LOOKUP, pack('missing'))).error, -E.ENOENT);
    const sub = await c.lookup(ROOT, 'sub');
    assert.equal((await c.lookup(sub.nodeid, 'inner')).attr.size, 2n);
    const before = c.dev.counters().inodes!;
    // Two lookups of hello.txt, forgotten in one FORGET on hiprio: the node is gone.
    const forgot = await c.call(OP.FORGET, pack(['u64', 2]), { queue: 0, nodeid: e.nodeid, room: 0 });
    assert.equal(forgot.usedLen, 0);
    assert.equal(c.dev.counters().inodes, before - 1);
    assert.equal((await c.call(OP.GETATTR, pack(['u32', 0], ['u32', 0], ['u64', 0]), { nodeid: e.nodeid })).error,
      -E.ENOENT);
    await c.call(OP.BATCH_FORGET, pack(['u32', 5], ['u32', 0], ['u64', sub.nodeid], ['u64', 1]), { queue: 0, room: 0 });
    assert.equal(c.dev.counters().inodes, before - 2);
    assert.ok(c.dev.counters()['op.lookup']! >= 5);
  }, { populate: (share) => {
    fs.writeFileSync(path.join(share, 'hello.txt'), 'hello\n', { mode: 0o640 });
    fs.chmodSync(path.join(share, 'hello.txt'), 0o640);
    fs.linkSync(path.join(share, 'hello.txt'), path.join(share, 'again.txt'));
    fs.mkdirSync(path.join(share, 'sub'));
    fs.writeFileSync(path.join(share, 'sub', 'inner'), 'in');
  } }));

test('create, write and read move data between the host file and guest buffers', () => withClient(async (c) => {
  await c.init();
  const { entry, fh } = await c.create(ROOT, 'new.bin', 0o644, O_RDWR);
  assert.equal(entry.attr.mode, 0o100644);
  const data = Buffer.alloc(100_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
  const w = await c.write(entry.nodeid, fh, 10, data);
  assert.equal(w.error, 0);
  assert.equal(w.body.readUInt32LE(0), data.length);
  const host = fs.readFileSync(path.join(c.share, 'new.bin'));
  assert.equal(host.length, 100_010);
  assert.ok(host.subarray(10).equals(data));
  const r = await c.read(entry.nodeid, fh, 10, 100_000);
  assert.equal(r.error, 0);
  assert.equal(r.len, 16 + 100_000);
  assert.ok(r.body.subarray(0, 100_000).equals(data));
  // Reading past the end returns what is there.
  assert.equal((await c.read(entry.nodeid, fh, 100_000, 4096)).len, 16 + 10);
  assert.equal((await c.call(OP.FSYNC, pack(['u64', fh], ['u32', 1], ['u32', 0]), { nodeid: entry.nodeid })).error, 0);
  assert.equal((await c.call(OP.FLUSH, pack(['u64', fh], ['u32', 0], ['u32', 0], ['u64', 0]))).error, 0);
  assert.equal((await c.release(entry.nodeid, fh)).error, 0);
  assert.equal((await c.release(entry.nodeid, fh)).error, -E.EBADF);
  // O_RDONLY handles refuse writes.
  const ro = await c.open(entry.nodeid, O_RDONLY);
  assert.equal((await c.write(entry.nodeid, ro, 0, Buffer.from('x'))).error, -E.EBADF);
  const k = c.dev.counters();
  assert.equal(k.writtenBytes, 100_000);
  assert.equal(k.readBytes, 100_010);
  assert.equal(k['op.create'], 1);
  assert.equal(k['op.write'], 2);
  assert.equal(k.handles, 1);
}));

test('READDIR and READDIRPLUS list every entry once across small replies; plus entries are usable nodes', () =>
  withClient(async (c) => {
    await c.init();
    const names = Array.from({ length: 40 }, (_, i) => `file-${i}-${'x'.repeat(i)}`);
    for (const n of names) fs.writeFileSync(path.join(c.share, n), n);
    fs.mkdirSync(path.join(c.share, 'd'));
    const plain = await c.list(ROOT, false, 512);
    assert.deepEqual(plain.map((d) => d.name).sort(), ['.', '..', 'd', ...names].sort());
    assert.equal(plain.find((d) => d.name === 'd')!.type, 4); // DT_DIR
    const plus = await c.list(ROOT, true, 1024);
    assert.deepEqual(plus.map((d) => d.name).sort(), plain.map((d) => d.name).sort());
    for (const d of plus) {
      if (d.name === '.' || d.name === '..') { assert.equal(d.entry!.nodeid, 0n); continue; }
      assert.equal(Number(d.entry!.attr.size), d.name === 'd' ? 4096 : d.name.length);
      assert.equal((await c.getattr(d.entry!.nodeid)).ino, d.entry!.attr.ino);
    }
    assert.equal((await c.call(OP.OPENDIR, pack(['u32', 0], ['u32', 0]), { nodeid: plus.find((d) => d.name === 'file-0-')!.entry!.nodeid })).error, -E.ENOTDIR);
  }));

test('mkdir, rmdir, unlink, rename and rename2 act on the host directory', () => withClient(async (c) => {
  await c.init();
  const d = await c.ok(OP.MKDIR, pack(['u32', 0o750], ['u32', 0], 'dir'));
  const dirId = d.readBigUInt64LE(0);
  assert.equal(fs.statSync(path.join(c.share, 'dir')).mode & 0o7777, 0o750);
  const { fh } = await c.create(dirId, 'a', 0o600, O_RDWR);
  await c.release(dirId, fh);
  assert.equal((await c.call(OP.RMDIR, pack('dir'))).error, -E.ENOTEMPTY);
  await c.ok(OP.RENAME, pack(['u64', ROOT], 'a', 'b'), { nodeid: dirId });
  assert.ok(fs.existsSync(path.join(c.share, 'b')));
  assert.ok(!fs.existsSync(path.join(c.share, 'dir', 'a')));
  fs.writeFileSync(path.join(c.share, 'c'), 'C');
  assert.equal((await c.call(OP.RENAME2, pack(['u64', ROOT], ['u32', RENAME_NOREPLACE], ['u32', 0], 'b', 'c'))).error,
    -E.EEXIST);
  fs.writeFileSync(path.join(c.share, 'b'), 'B');
  await c.ok(OP.RENAME2, pack(['u64', ROOT], ['u32', RENAME_EXCHANGE], ['u32', 0], 'b', 'c'));
  assert.equal(fs.readFileSync(path.join(c.share, 'b'), 'utf8'), 'C');
  assert.equal((await c.call(OP.RENAME2, pack(['u64', ROOT], ['u32', 4], ['u32', 0], 'b', 'c'))).error, -E.EINVAL);
  await c.ok(OP.UNLINK, pack('b'));
  await c.ok(OP.RMDIR, pack('dir'));
  assert.deepEqual(fs.readdirSync(c.share), ['c']);
  assert.equal((await c.call(OP.UNLINK, pack('b'))).error, -E.ENOENT);
}));

test('symlinks are made and read as data; LINK makes a hard link', () => withClient(async (c) => {
  await c.init();
  const e = await c.ok(OP.SYMLINK, pack('ln', '../../target/elsewhere'));
  assert.equal(e.readUInt32LE(40 + 60) & S_IFMT, S_IFLNK);
  assert.equal(fs.readlinkSync(path.join(c.share, 'ln')), '../../target/elsewhere');
  const target = await c.ok(OP.READLINK, Buffer.alloc(0), { nodeid: e.readBigUInt64LE(0) });
  assert.equal(target.toString(), '../../target/elsewhere');
  fs.writeFileSync(path.join(c.share, 'f'), 'f');
  const f = await c.lookup(ROOT, 'f');
  const l = await c.ok(OP.LINK, pack(['u64', f.nodeid], 'f2'));
  assert.equal(l.readBigUInt64LE(0), f.nodeid);
  assert.equal(fs.statSync(path.join(c.share, 'f2')).nlink, 2);
  assert.equal((await c.call(OP.READLINK, Buffer.alloc(0), { nodeid: f.nodeid })).error, -E.EINVAL);
}));

test('SETATTR changes mode, size and times (explicit and now), and owner', () => withClient(async (c) => {
  await c.init();
  fs.writeFileSync(path.join(c.share, 'f'), 'hello world');
  const f = await c.lookup(ROOT, 'f');
  const setattr = (valid: number, o: { size?: number; atime?: number; mtime?: number; mode?: number; uid?: number;
    gid?: number; mtimeNs?: number }) => c.call(OP.SETATTR, pack(['u32', valid], ['u32', 0], ['u64', 0],
    ['u64', o.size ?? 0], ['u64', 0], ['u64', o.atime ?? 0], ['u64', o.mtime ?? 0], ['u64', 0], ['u32', 0],
    ['u32', o.mtimeNs ?? 0], ['u32', 0], ['u32', o.mode ?? 0], ['u32', 0], ['u32', o.uid ?? 0], ['u32', o.gid ?? 0],
    ['u32', 0]), { nodeid: f.nodeid });
  let r = await setattr(1, { mode: 0o100600 });
  assert.equal(r.error, 0);
  assert.equal(fs.statSync(path.join(c.share, 'f')).mode & 0o7777, 0o600);
  r = await setattr(8, { size: 5 });
  assert.equal(r.body.readBigUInt64LE(16 + 8), 5n);
  assert.equal(fs.readFileSync(path.join(c.share, 'f'), 'utf8'), 'hello');
  r = await setattr(16 | 32, { atime: 1_000_000, mtime: 2_000_000, mtimeNs: 5 });
  assert.equal(r.error, 0);
  const st = fs.statSync(path.join(c.share, 'f'), { bigint: true });
  assert.equal(st.mtimeNs, 2_000_000n * 1_000_000_000n + 5n);
  assert.equal(st.atimeNs, 1_000_000n * 1_000_000_000n);
  r = await setattr(32 | 256, {});
  assert.equal(r.error, 0);
  assert.ok(Math.abs(fs.statSync(path.join(c.share, 'f')).mtimeMs - Date.now()) < 60_000);
  if (process.geteuid?.() === 0) {
    r = await setattr(2 | 4, { uid: 1234, gid: 4321 });
    assert.equal(r.error, 0);
    const o = fs.statSync(path.join(c.share, 'f'));
    assert.deepEqual([o.uid, o.gid], [1234, 4321]);
  }
}));

test('STATFS reports the host file system', () => withClient(async (c) => {
  await c.init();
  const b = await c.ok(OP.STATFS);
  const host = fs.statfsSync(c.share);
  assert.equal(b.length, 80);
  assert.equal(b.readBigUInt64LE(0), BigInt(host.blocks));
  assert.equal(b.readUInt32LE(40), host.bsize);
  assert.equal(b.readUInt32LE(44), 255);
}));

test('unknown opcodes are ENOSYS; DESTROY drops every node and ends the session', () => withClient(async (c) => {
  await c.init();
  assert.equal((await c.call(22 /* GETXATTR */, pack(['u32', 0], ['u32', 0], 'user.x'))).error, -E.ENOSYS);
  assert.equal((await c.call(9999)).error, -E.ENOSYS);
  fs.writeFileSync(path.join(c.share, 'f'), 'f');
  await c.lookup(ROOT, 'f');
  assert.equal((await c.call(OP.DESTROY)).error, 0);
  assert.equal(c.dev.counters().inodes, 1);
  assert.equal((await c.call(OP.LOOKUP, pack('f'))).error, -E.EIO);
  await c.init();
  assert.equal((await c.lookup(ROOT, 'f')).attr.size, 1n);
  assert.equal(c.dev.counters()['op.unknown'], 2);
}));

test('SETATTR with a handle of another node truncates the node it names, not the handle\'s file', () =>
  withClient(async (c) => {
    await c.init();
    const a = await c.lookup(ROOT, 'a');
    const b = await c.lookup(ROOT, 'b');
    const fhB = await c.open(b.nodeid, O_RDWR);
    const r = await c.call(OP.SETATTR, pack(['u32', FATTR.SIZE | FATTR.FH], ['u32', 0], ['u64', fhB], ['u64', 1],
      Buffer.alloc(64)), { nodeid: a.nodeid });
    assert.equal(r.error, 0);
    assert.equal(r.body.readBigUInt64LE(16 + 8), 1n);
    assert.equal(fs.readFileSync(path.join(c.share, 'a'), 'utf8'), 'a');
    assert.equal(fs.readFileSync(path.join(c.share, 'b'), 'utf8'), 'bbbb');
    // Its own handle is used as before.
    const fhA = await c.open(a.nodeid, O_RDWR);
    await c.ok(OP.SETATTR, pack(['u32', FATTR.SIZE | FATTR.FH], ['u32', 0], ['u64', fhA], ['u64', 0], Buffer.alloc(64)),
      { nodeid: a.nodeid });
    assert.equal(fs.statSync(path.join(c.share, 'a')).size, 0);
  }, { populate: (share) => {
    fs.writeFileSync(path.join(share, 'a'), 'aaaa');
    fs.writeFileSync(path.join(share, 'b'), 'bbbb');
  } }));

test('a reset with a READ in flight: quiesce() waits for it, and its chain never reaches the used ring', () =>
  withClient(async (c) => {
    await c.init();
    const f = await c.lookup(ROOT, 'f');
    const fh = await c.open(f.nodeid, O_RDONLY);
    const used = c.usedIdx();
    c.post(c.encode(OP.READ, c.readArgs(fh, 0, 4096), { nodeid: f.nodeid }), 16 + 4096);
    c.dev.reset();
    assert.equal(c.dev.counters().inFlight, 1);
    let quiet = false;
    const q = c.dev.quiesce().then(() => { quiet = true; });
    // The read's completion can only run from the event loop, which has not turned yet.
    await Promise.resolve();
    assert.equal(quiet, false, 'quiesce waits for the read');
    await q;
    assert.equal(c.dev.counters().inFlight, 0);
    assert.equal(c.usedIdx(), used, 'nothing pushed to the used ring after the reset');
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    assert.equal(c.usedIdx(), used);
    assert.deepEqual(c.failures, []);
  }, { populate: (share) => fs.writeFileSync(path.join(share, 'f'), 'x'.repeat(4096)) }));
