// virtio-fs under the tiny test kernel's own FUSE client on tsvmm: a full round of file operations on a writable
// share, EROFS for every change on a read-only one, and escape attempts through names, outward symlinks, bogus node
// ids and handles. The share sits next to a directory the guest must never reach: it holds a secret whose content
// must not show in the guest's output, and it must be exactly as it was afterwards.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dataWith, numberField } from '../../src/guest/test-kernel-output';
import { kvmUnavailable } from '../helpers/kvm';
import { runTiny, type TinyRun } from '../helpers/tiny';

const skip = kvmUnavailable();
const PATTERN_BYTES = 70_000;
const LEFT_BYTES = 12_345;
/** What the guest sets as the outward symlink's own mtime (it must land on the link, never on its target). */
const LINK_MTIME = 1_000_000_000;

/** The guest's pattern files: byte i of the file with `seed` (test/guest/virtio-fs.h, fs_pattern). */
function pattern(seed: number, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 131 + Math.floor(i / 256) * 7 + seed) & 0xff;
  return b;
}

/** Every entry under `root`, with what would show a change: type, mode, size, mtime, content or target. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    const full = path.join(root, rel);
    const st = fs.lstatSync(full, { bigint: true });
    let what = '';
    if (st.isSymbolicLink()) what = `-> ${fs.readlinkSync(full)}`;
    else if (st.isFile()) what = createHash('sha256').update(fs.readFileSync(full)).digest('hex');
    out[rel || '.'] = `${st.mode.toString(8)} ${st.size} ${st.mtimeNs} ${st.nlink} ${what}`;
    if (st.isDirectory()) for (const name of fs.readdirSync(full).sort()) walk(path.join(rel, name));
  };
  walk('');
  return out;
}

/** Whatever a write, truncate, chmod or replacement would change (atime is left out: reading is allowed). */
function fileIdentity(file: string): string {
  const st = fs.statSync(file, { bigint: true });
  return `${st.ino} ${st.mode} ${st.size} ${st.mtimeNs} ${st.ctimeNs}`;
}

interface Fixture {
  dir: string;
  share: string;
  outside: string;
  secret: string;
}

/** A share with the host's pattern file and symlinks out of it, beside a directory holding the secret. */
function prepare(parent: string, name: string): Fixture {
  const dir = path.join(parent, name);
  const share = path.join(dir, 'share');
  const outside = path.join(dir, 'outside');
  fs.mkdirSync(share, { recursive: true });
  fs.mkdirSync(outside);
  const secret = `TSVMM-SECRET-${randomBytes(12).toString('hex')}`;
  fs.writeFileSync(path.join(outside, 'secret.txt'), `${secret}\n`, { mode: 0o600 });
  fs.writeFileSync(path.join(share, 'pattern.bin'), pattern(1, PATTERN_BYTES), { mode: 0o644 });
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(share, 'abs-link'));
  fs.symlinkSync('../outside/secret.txt', path.join(share, 'rel-link'));
  fs.symlinkSync('../../..', path.join(share, 'up-link'));
  fs.symlinkSync('/etc', path.join(share, 'etc-link'));
  fs.symlinkSync(path.join(outside, 'planted'), path.join(share, 'plant-link'));
  return { dir, share, outside, secret };
}

function guestFields(r: TinyRun): Record<string, string> {
  return Object.assign({}, ...r.data.filter((d) => d.test === 'fs').map((d) => d.fields)) as Record<string, string>;
}

/** READs the guest leaves in flight when it resets the device, and their size: answered to nobody. */
const RESET_READS = 8;
const RESET_READ_BYTES = 8192;

/** The answer the guest must have seen for each escape or hostile request (g: what it reported). */
function expectedAnswers(g: Record<string, string>, readonly: boolean, broken: boolean): Record<string, string> {
  const rofs = (errno: string): string => (readonly ? 'EROFS' : errno);
  const expected: Record<string, string> = {
    before_init: 'EIO', init_again: 'EPROTO', lookup_long: 'ENAMETOOLONG', lookup_no_nul: 'EINVAL',
    short_header: 'unanswered', reply_under_header: 'unanswered', forgotten_node: 'ENOENT', root_after_forget: 'OK',
    node_after_reset: 'ENOENT', fh_after_reset: 'EBADF', init_major8: '7.31', getattr_before_init: 'EIO',
    read_after_release: 'EBADF',
    lookup_dotdot: 'EPERM', lookup_dot: 'EPERM', lookup_slash: 'EINVAL', lookup_path: 'EINVAL', lookup_empty: 'EINVAL',
    below_abs: 'ENOTDIR', below_etc: 'ENOTDIR', below_up: 'ENOTDIR', open_abs: 'ELOOP', open_rel: 'ELOOP',
    open_abs_write: rofs('ELOOP'), opendir_etc: 'ENOTDIR', opendir_up: 'ENOTDIR', create_plant: rofs('ELOOP'),
    create_trunc_abs: rofs('ELOOP'), create_excl_abs: rofs('EEXIST'), create_below_up: rofs('ENOTDIR'),
    mkdir_below_etc: rofs('ENOTDIR'), truncate_abs: rofs('ELOOP'), chmod_abs: rofs('EOPNOTSUPP'),
    touch_abs: rofs('OK'), rename_below_up: rofs('ENOTDIR'), rename_dotdot: rofs('EPERM'), link_abs: rofs('OK'),
    symlink_out: rofs('OK'), getattr_bogus: 'ENOENT', lookup_node0: 'ENOENT', open_node_max: 'ENOENT',
    forget_bogus: 'OK', read_bogus_fh: 'EBADF', read_fh_max: 'EBADF', flush_bogus_fh: 'EBADF',
    release_bogus_fh: 'EBADF', write_bogus_fh: rofs('EBADF'), read_dir_fh: 'EISDIR', readdir_file_fh: 'ENOTDIR',
    read_huge: 'OK', read_far: 'OK', reply_too_small: 'ERANGE', unknown_opcode: 'ENOSYS', readlink_file: 'EINVAL',
    lookup_below_file: 'ENOTDIR', open_dir_as_file: 'EISDIR', mknod_chardev: rofs('EPERM'),
    rename_whiteout: rofs('EINVAL'), truncate_huge: rofs('EFBIG'), batch_forget_overcount: 'OK', forget_root: 'OK',
  };
  if (!readonly) Object.assign(expected, { open_guest_link: 'ELOOP', write_far: 'EFBIG', write_short_data: 'EINVAL' });
  if (broken) Object.assign(expected, { readable_after_writable: 'NEEDS_RESET', reply_in_mmio_window: 'NEEDS_RESET' });
  // Linux refuses to change a symlink's mode; a host kernel that allowed it would change the link alone.
  if (!readonly && g.chmod_abs === 'OK') expected.chmod_abs = 'OK';
  return expected;
}

/** What every run shares: the escape answers, the links as the guest saw them, the device's own accounting. */
function checkRun(r: TinyRun, f: Fixture, readonly: boolean, broken = false): Record<string, number> {
  assert.deepEqual(r.verdict, { test: 'fs', passed: true }, r.text);
  assert.ok(!r.text.includes(f.secret), 'the secret appeared in the guest output');
  const g = guestFields(r);
  const expected = expectedAnswers(g, readonly, broken);
  const seen = Object.fromEntries(Object.keys(expected).map((k) => [k, g[k]]));
  assert.deepEqual(seen, expected);
  assert.equal(numberField(g, 'escape_attempts'), Object.keys(expected).length);
  // The links the guest looked up are the links themselves (lstat), never what they point at.
  for (const d of dataWith(r, 'link', 'ino', 'size')) {
    const st = fs.lstatSync(path.join(f.share, d.link!), { bigint: true });
    assert.equal(BigInt(d.ino!), st.ino, d.link);
    assert.equal(BigInt(d.size!), st.size, d.link);
    assert.equal(Number(d.mode), Number(st.mode), d.link);
  }
  assert.equal(dataWith(r, 'link').length, 5);
  assert.equal(g.tag, readonly ? 'ro-share' : 'rw-share');
  assert.equal(numberField(g, 'minor'), 31);
  const dev = r.devices[0]!;
  process.stderr.write(`# virtio-fs ${readonly ? 'read-only' : 'read-write'}: ${JSON.stringify(dev)}\n`);
  // The device answered exactly what the guest sent, with the errnos the guest saw, and holds nothing afterwards;
  // the READs cut off by the reset were served (the host read their bytes) but never answered.
  assert.equal(numberField(g, 'reset_reads'), RESET_READS);
  assert.equal(dev.requests, numberField(g, 'calls') + RESET_READS);
  assert.equal(dev.errors, numberField(g, 'errors'));
  assert.equal(dev.readBytes, numberField(g, 'read_bytes') + RESET_READS * RESET_READ_BYTES);
  assert.equal(dev.writtenBytes, numberField(g, 'written_bytes'));
  for (const k of ['internalErrors', 'inFlight', 'handles']) assert.equal(dev[k], 0, k);
  // The short header and the reply buffer smaller than fuse_out_header were answered with nothing; each broken
  // chain cost the driver its device.
  assert.equal(dev.failures, broken ? 2 : 0);
  assert.equal(dev.badRequests, broken ? 4 : 2);
  assert.equal(dev.inodes, 1, 'every node forgotten but the root');
  // The second INIT refused (EPROTO), one for FUSE 8 and one for 7.31 after the reset, one after each break.
  assert.equal(dev['op.init'], broken ? 6 : 4);
  // The bogus one, the root's, the first node of the final round, the node looked up after the reset (forgotten by
  // the next reset when there is one); the over-counted batch and the final one.
  assert.equal(dev['op.forget'], broken ? 3 : 4);
  assert.equal(dev['op.batchForget'], 2);
  assert.equal(dev['op.unknown'], 1);
  return dev;
}

describe('tiny test kernel: virtio-fs on tsvmm', { skip, timeout: 300_000 }, () => {
  let parent: string;
  let etcPasswd: string;
  before(() => {
    parent = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-tiny-fs-'));
    etcPasswd = fileIdentity('/etc/passwd');
  });
  after(() => {
    if (parent) fs.rmSync(parent, { recursive: true, force: true });
    assert.equal(fileIdentity('/etc/passwd'), etcPasswd);
  });

  it('does every file operation on a writable share, and no attempt reaches outside it', async () => {
    const f = prepare(parent, 'rw');
    const outside = snapshot(f.outside);
    const share = snapshot(f.share);
    const r = await runTiny({
      cmdline: `test=fs fs_tag=rw-share fs_pattern_bytes=${PATTERN_BYTES}`,
      devices: [{ type: 'fs', tag: 'rw-share', path: f.share }],
    });
    const dev = checkRun(r, f, false);
    assert.deepEqual(snapshot(f.outside), outside);
    assert.deepEqual(fs.readdirSync(f.dir).sort(), ['outside', 'share']);
    // The share: what was there, the outward link's own mtime (set by the guest), and the file the guest left.
    const now = snapshot(f.share);
    const left = now['guest-wrote.bin'];
    delete now['guest-wrote.bin'];
    for (const k of ['.', 'abs-link']) { Reflect.deleteProperty(now, k); Reflect.deleteProperty(share, k); }
    assert.deepEqual(now, share);
    assert.equal(fs.lstatSync(path.join(f.share, 'abs-link')).mtimeMs, LINK_MTIME * 1000);
    assert.equal(fs.readlinkSync(path.join(f.share, 'abs-link')), path.join(f.outside, 'secret.txt'));
    assert.ok(left, 'guest-wrote.bin is missing');
    const st = fs.statSync(path.join(f.share, 'guest-wrote.bin'));
    assert.equal(st.mode & 0o7777, 0o640);
    assert.ok(fs.readFileSync(path.join(f.share, 'guest-wrote.bin')).equals(pattern(3, LEFT_BYTES)));
    for (const op of ['create', 'write', 'flush', 'release', 'lookup', 'getattr', 'open', 'read', 'mkdir', 'rename',
      'opendir', 'readdir', 'readdirplus', 'releasedir', 'setattr', 'unlink', 'rmdir', 'statfs', 'link', 'symlink',
      'readlink']) assert.ok(dev[`op.${op}`]! >= 1, op);
    // 20 KiB + 3000 bytes, then 12345 bytes, each in two WRITEs; the three refused ones (a bogus handle, an offset
    // past 2^53, less data than the size) wrote nothing.
    assert.equal(dev.writtenBytes, 20 * 1024 + 123 + 3000 + LEFT_BYTES);
    assert.equal(dev['op.write'], 7);
  });

  it('refuses every change to a read-only share with EROFS and still reads it', async () => {
    const f = prepare(parent, 'ro');
    const outside = snapshot(f.outside);
    const share = snapshot(f.share);
    const r = await runTiny({
      cmdline: `test=fs fs_tag=ro-share fs_pattern_bytes=${PATTERN_BYTES} fs_readonly=1`,
      devices: [{ type: 'fs', tag: 'ro-share', path: f.share, readonly: true }],
    });
    const dev = checkRun(r, f, true);
    assert.equal(numberField(guestFields(r), 'refused'), 14);
    assert.deepEqual(snapshot(f.outside), outside);
    assert.deepEqual(snapshot(f.share), share);
    assert.equal(dev.writtenBytes, 0);
    assert.ok(dev.readBytes! >= 2 * PATTERN_BYTES);
  });

  it('a chain that breaks the ring rules costs the driver its device, which starts again and serves', async () => {
    const f = prepare(parent, 'broken');
    const outside = snapshot(f.outside);
    const r = await runTiny({
      cmdline: `test=fs fs_tag=rw-share fs_pattern_bytes=${PATTERN_BYTES} fs_break=1`,
      devices: [{ type: 'fs', tag: 'rw-share', path: f.share }],
    });
    checkRun(r, f, false, true);
    assert.deepEqual(snapshot(f.outside), outside);
  });

  it('fails when the tag is not what the cmdline expects', async () => {
    const f = prepare(parent, 'tag');
    const r = await runTiny({
      cmdline: `test=fs fs_tag=expected fs_pattern_bytes=${PATTERN_BYTES}`,
      devices: [{ type: 'fs', tag: 'actual', path: f.share }],
    });
    assert.deepEqual(r.verdict, { test: 'fs', passed: false, reason: 'tag "actual", expected "expected"' });
  });
});
