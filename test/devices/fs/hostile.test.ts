// A hostile guest: names that climb, symlinks that point out of the share, node ids and file handles it never
// got, lengths that lie, chains too small for a reply. Each must fail without touching anything outside the share.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { E, OP, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG } from '../../../src/devices/fs/protocol';
import { FuseClient, GUARD_BYTE, pack, ROOT } from './fuse-client';

const { O_RDWR, O_TRUNC } = fs.constants;

function populate(share: string, outside: string): void {
  fs.symlinkSync(path.join(outside, 'secret'), path.join(share, 'abs'));
  fs.symlinkSync('../outside/secret', path.join(share, 'rel'));
  fs.symlinkSync('../outside', path.join(share, 'reldir'));
  fs.symlinkSync(outside, path.join(share, 'absdir'));
  fs.symlinkSync('/proc/self/root', path.join(share, 'procroot'));
  fs.writeFileSync(path.join(share, 'file'), 'inside');
}

/** Everything about the outside directory a breach could change. */
function snapshot(dir: string): string {
  return fs.readdirSync(dir).sort().map((n) => {
    const st = fs.lstatSync(path.join(dir, n), { bigint: true });
    return `${n} ${st.mode} ${st.size} ${st.mtimeNs} ${st.nlink} ${st.uid} ${fs.readFileSync(path.join(dir, n), 'latin1')}`;
  }).join('\n');
}

async function hostile(fn: (c: FuseClient) => Promise<void>): Promise<void> {
  const c = new FuseClient({ populate });
  const before = snapshot(c.outside);
  try {
    await c.init();
    await fn(c);
    assert.equal(snapshot(c.outside), before, 'the outside directory is untouched');
    assert.deepEqual(c.failures, []);
    assert.equal(c.dev.counters().internalErrors, 0);
  } finally {
    c.close();
  }
}

test('names that climb or carry a slash are refused', () => hostile(async (c) => {
  for (const [name, errno] of [['..', E.EPERM], ['.', E.EPERM], ['../outside/secret', E.EINVAL], ['a/b', E.EINVAL],
    ['', E.EINVAL], ['x'.repeat(256), E.ENAMETOOLONG]] as const) {
    assert.equal((await c.call(OP.LOOKUP, pack(name))).error, -errno, `lookup ${JSON.stringify(name.slice(0, 20))}`);
    assert.equal((await c.call(OP.MKDIR, pack(['u32', 0o755], ['u32', 0], name))).error, -errno);
    assert.equal((await c.call(OP.CREATE, pack(['u32', O_RDWR], ['u32', 0o100644], ['u32', 0], ['u32', 0], name)))
      .error, -errno);
  }
  assert.equal((await c.call(OP.RENAME, pack(['u64', ROOT], 'file', '../outside/secret'))).error, -E.EINVAL);
  assert.equal((await c.call(OP.SYMLINK, pack('../x', 'file'))).error, -E.EINVAL);
  const sub = await c.ok(OP.MKDIR, pack(['u32', 0o755], ['u32', 0], 'sub'));
  assert.equal((await c.call(OP.LOOKUP, pack('..'), { nodeid: sub.readBigUInt64LE(0) })).error, -E.EPERM);
  assert.equal((await c.call(OP.LOOKUP, Buffer.from('no-nul'))).error, -E.EINVAL);
}));

test('symlinks pointing out of the share are entries, never followed by lookup, open or create', () =>
  hostile(async (c) => {
    for (const name of ['abs', 'rel', 'reldir', 'absdir', 'procroot']) {
      const e = await c.lookup(ROOT, name);
      assert.equal(e.attr.mode & S_IFMT, S_IFLNK, name);
      assert.equal((await c.getattr(e.nodeid)).mode & S_IFMT, S_IFLNK);
      assert.equal((await c.call(OP.OPEN, pack(['u32', O_RDWR | O_TRUNC], ['u32', 0]), { nodeid: e.nodeid })).error,
        -E.ELOOP, `open ${name}`);
      assert.equal((await c.call(OP.OPENDIR, pack(['u32', 0], ['u32', 0]), { nodeid: e.nodeid })).error, -E.ENOTDIR);
      assert.equal((await c.call(OP.LOOKUP, pack('secret'), { nodeid: e.nodeid })).error, -E.ENOTDIR);
      assert.equal((await c.call(OP.CREATE, pack(['u32', O_RDWR], ['u32', 0o100644], ['u32', 0], ['u32', 0], 'new'),
        { nodeid: e.nodeid })).error, -E.ENOTDIR);
      // Truncating or chmod-ing the link must not reach its target.
      const setattr = (valid: number, size: number, mode: number) => c.call(OP.SETATTR, pack(['u32', valid],
        ['u32', 0], ['u64', 0], ['u64', size], Buffer.alloc(40), ['u32', mode], Buffer.alloc(16)), { nodeid: e.nodeid });
      assert.equal((await setattr(8, 0, 0)).error, -E.ELOOP);
      assert.equal((await setattr(1, 0, 0o777)).error, -E.EOPNOTSUPP);
    }
    // CREATE on the name of a link (no O_EXCL) neither follows nor truncates it.
    assert.equal((await c.call(OP.CREATE, pack(['u32', O_RDWR | O_TRUNC], ['u32', 0o100644], ['u32', 0], ['u32', 0],
      'abs'))).error, -E.ELOOP);
    const target = await c.ok(OP.READLINK, Buffer.alloc(0), { nodeid: (await c.lookup(ROOT, 'rel')).nodeid });
    assert.equal(target.toString(), '../outside/secret');
    // A link the guest makes to / is just as inert.
    const root = await c.ok(OP.SYMLINK, pack('toroot', '/'));
    assert.equal((await c.call(OP.LOOKUP, pack('etc'), { nodeid: root.readBigUInt64LE(0) })).error, -E.ENOTDIR);
    // Hard-linking a link links the link, and renaming onto one replaces the link, not its target.
    const abs = await c.lookup(ROOT, 'abs');
    await c.ok(OP.LINK, pack(['u64', abs.nodeid], 'abs2'));
    assert.ok(fs.lstatSync(path.join(c.share, 'abs2')).isSymbolicLink());
    await c.ok(OP.RENAME, pack(['u64', ROOT], 'file', 'rel'));
    assert.equal(fs.readFileSync(path.join(c.share, 'rel'), 'utf8'), 'inside');
  }));

test('node ids and file handles the guest never got are ENOENT and EBADF', () => hostile(async (c) => {
  const f = await c.lookup(ROOT, 'file');
  const fh = await c.open(f.nodeid, 0);
  const dh = await c.open(ROOT, 0, true);
  for (const id of [0n, 999n, 1n << 53n, 1n << 63n, (1n << 64n) - 1n]) {
    assert.equal((await c.call(OP.GETATTR, Buffer.alloc(16), { nodeid: id })).error, -E.ENOENT);
    assert.equal((await c.call(OP.LOOKUP, pack('file'), { nodeid: id })).error, -E.ENOENT);
    assert.equal((await c.call(OP.OPEN, pack(['u32', 0], ['u32', 0]), { nodeid: id })).error, -E.ENOENT);
    assert.equal((await c.call(OP.LINK, pack(['u64', id], 'l'))).error, -E.ENOENT);
    assert.equal((await c.call(OP.RENAME, pack(['u64', id], 'file', 'x'))).error, -E.ENOENT);
    await c.call(OP.FORGET, pack(['u64', 1n << 40n]), { queue: 0, nodeid: id, room: 0 });
    for (const op of [OP.READ, OP.WRITE]) {
      assert.equal((await c.call(op, c.readArgs(id, 0, 10), { nodeid: f.nodeid }, Buffer.alloc(10))).error, -E.EBADF);
    }
    assert.equal((await c.call(OP.READDIR, c.readArgs(id, 0, 4096))).error, -E.EBADF);
    assert.equal((await c.release(f.nodeid, id)).error, -E.EBADF);
  }
  // A handle of the other kind.
  assert.equal((await c.call(OP.READDIR, c.readArgs(fh, 0, 4096))).error, -E.ENOTDIR);
  assert.equal((await c.read(f.nodeid, dh, 0, 10)).error, -E.EISDIR);
  // The root cannot be forgotten, and FORGET of a huge count does not underflow.
  await c.call(OP.FORGET, pack(['u64', (1n << 64n) - 1n]), { queue: 0, nodeid: ROOT, room: 0 });
  assert.equal((await c.getattr(ROOT)).mode & S_IFMT, S_IFDIR);
  assert.equal((await c.read(f.nodeid, fh, 0, 100)).body.subarray(0, 6).toString(), 'inside');
}));

test('lengths that lie are capped or refused; replies never pass the writable buffers', () => hostile(async (c) => {
  const f = await c.lookup(ROOT, 'file');
  const fh = await c.open(f.nodeid, O_RDWR);
  // READ of 4 GiB into 20 bytes of room: 4 bytes of data, and nothing written past the room.
  const r = await c.read(f.nodeid, fh, 0, 0xffffffff, 20);
  assert.equal(r.len, 20);
  assert.equal(r.body.toString(), 'insi');
  assert.ok(c.guard(20).every((b) => b === GUARD_BYTE));
  assert.equal((await c.read(f.nodeid, fh, 2 ** 62, 100)).len, 16);
  // WRITE claiming more data than it carries; past 2^53.
  assert.equal((await c.write(f.nodeid, fh, 0, Buffer.from('abc'), 0xffffffff)).error, -E.EINVAL);
  assert.equal((await c.call(OP.WRITE, pack(['u64', fh], ['u64', (1n << 64n) - 1n], ['u32', 1], Buffer.alloc(28)),
    { nodeid: f.nodeid }, Buffer.from('z'))).error, -E.EFBIG);
  assert.equal(fs.readFileSync(path.join(c.share, 'file'), 'utf8'), 'inside');
  // A LOOKUP whose room cannot hold an entry is refused before it counts a lookup.
  const inodes = c.dev.counters().inodes;
  const small = await c.call(OP.LOOKUP, pack('abs'), { room: 100 });
  assert.equal(small.error, -E.ERANGE);
  assert.equal(small.usedLen, 16);
  assert.equal(c.dev.counters().inodes, inodes);
  // A READDIR that asks for more than its room fits what fits.
  const dir = await c.call(OP.READDIR, c.readArgs(await c.open(ROOT, 0, true), 0, 0xffffffff), { room: 16 + 40 });
  assert.ok(dir.len <= 56 && dir.len > 16, String(dir.len));
  assert.ok(c.guard(56).every((b) => b === GUARD_BYTE));
  const bad = c.dev.counters().badRequests!;
  // No room for even fuse_out_header: the chain goes back empty. A header cut short: the same.
  assert.equal((await c.call(OP.GETATTR, Buffer.alloc(16), { room: 8 })).usedLen, 0);
  assert.equal((await c.call(OP.GETATTR, Buffer.alloc(0), { raw: Buffer.alloc(20) })).usedLen, 0);
  assert.equal(c.dev.counters().badRequests, bad + 2);
  // A FORGET too short to carry its count is dropped without a reply.
  assert.equal((await c.call(OP.FORGET, pack(['u32', 1]), { queue: 0, nodeid: f.nodeid })).usedLen, 0);
  // Arguments shorter than the op's structure.
  assert.equal((await c.call(OP.SETATTR, pack(['u32', 8]), { nodeid: f.nodeid })).error, -E.EINVAL);
  assert.equal((await c.call(OP.READ, pack(['u64', fh]), { nodeid: f.nodeid })).error, -E.EINVAL);
}));

test('device nodes are not made on the host; fifos are', () => hostile(async (c) => {
  const S_IFCHR = 0o020000;
  const S_IFBLK = 0o060000;
  for (const type of [S_IFCHR, S_IFBLK]) {
    assert.equal((await c.call(OP.MKNOD, pack(['u32', type | 0o666], ['u32', 0x0801], ['u32', 0], ['u32', 0], 'dev')))
      .error, -E.EPERM);
  }
  await c.ok(OP.MKNOD, pack(['u32', S_IFIFO | 0o600], ['u32', 0], ['u32', 0], ['u32', 0], 'fifo'));
  assert.ok(fs.lstatSync(path.join(c.share, 'fifo')).isFIFO());
  // A fifo is never opened by the device (it would block the VMM); the guest's own kernel serves fifos.
  const fifo = await c.lookup(ROOT, 'fifo');
  assert.equal((await c.call(OP.OPEN, pack(['u32', 0], ['u32', 0]), { nodeid: fifo.nodeid })).error, -E.EPERM);
}));

test('a read-only share refuses every change with EROFS and still serves reads', async () => {
  const c = new FuseClient({ readonly: true, populate: (share) => {
    fs.writeFileSync(path.join(share, 'f'), 'data');
    fs.mkdirSync(path.join(share, 'd'));
  } });
  const before = fs.readdirSync(c.share).join();
  try {
    await c.init();
    const f = await c.lookup(ROOT, 'f');
    const fh = await c.open(f.nodeid, 0);
    const refused: [number, Buffer, bigint?][] = [
      [OP.SETATTR, Buffer.alloc(88), f.nodeid],
      [OP.CREATE, pack(['u32', 0], ['u32', 0o100644], ['u32', 0], ['u32', 0], 'n')],
      [OP.MKDIR, pack(['u32', 0o755], ['u32', 0], 'n')],
      [OP.MKNOD, pack(['u32', 0o100644], ['u32', 0], ['u32', 0], ['u32', 0], 'n')],
      [OP.UNLINK, pack('f')],
      [OP.RMDIR, pack('d')],
      [OP.RENAME, pack(['u64', ROOT], 'f', 'g')],
      [OP.RENAME2, pack(['u64', ROOT], ['u32', 0], ['u32', 0], 'f', 'g')],
      [OP.SYMLINK, pack('s', 'f')],
      [OP.LINK, pack(['u64', f.nodeid], 'h')],
      [OP.WRITE, pack(['u64', fh], ['u64', 0], ['u32', 1], Buffer.alloc(20), 'x'), f.nodeid],
      [OP.OPEN, pack(['u32', O_RDWR], ['u32', 0]), f.nodeid],
      [OP.OPEN, pack(['u32', 1], ['u32', 0]), f.nodeid],
      [OP.OPEN, pack(['u32', O_TRUNC], ['u32', 0]), f.nodeid],
    ];
    for (const [op, args, nodeid] of refused) {
      assert.equal((await c.call(op, args, { nodeid: nodeid ?? ROOT })).error, -E.EROFS, `opcode ${op}`);
    }
    assert.equal((await c.read(f.nodeid, fh, 0, 100)).body.subarray(0, 4).toString(), 'data');
    assert.equal((await c.list(ROOT, true)).length, 4);
    assert.equal(fs.readdirSync(c.share).join(), before);
    assert.equal(fs.readFileSync(path.join(c.share, 'f'), 'utf8'), 'data');
  } finally {
    c.close();
  }
});

test('CREATE with every handle taken is ENFILE and leaves no node, no fd and no file behind', async () => {
  const c = new FuseClient({ limits: { handles: 1 }, populate: (share) => fs.writeFileSync(path.join(share, 'f'), 'f') });
  const openFds = (): number => fs.readdirSync('/proc/self/fd').length;
  try {
    await c.init();
    await c.open((await c.lookup(ROOT, 'f')).nodeid, 0);
    const inodes = c.dev.counters().inodes;
    const fds = openFds();
    const r = await c.call(OP.CREATE, pack(['u32', O_RDWR], ['u32', S_IFREG | 0o644], ['u32', 0], ['u32', 0], 'new'));
    assert.equal(r.error, -E.ENFILE);
    assert.equal(c.dev.counters().inodes, inodes, 'no lookup counted the guest never learns of');
    assert.equal(openFds(), fds, 'no fd left open');
    assert.ok(!fs.existsSync(path.join(c.share, 'new')));
  } finally {
    c.close();
  }
});
