// Sandbox root images: the tree's size, the agent put in place through the tree's own links, and a real
// mkfs.ext4 -d run whose image is sparse and holds what the tree held.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  addAgentToTree, defaultImageSize, IMAGE_AGENT_PATH, inodeCount, makeExt4Image, resolveInTree, treeUsage,
} from '../../src/guest/rootfs-image';
import { imageKindOf } from '../../src/api/sandbox-image';

const MIB = 1024 * 1024;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-rootfs-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const hasMkfs = spawnSync('mkfs.ext4', ['-V']).status === 0 && spawnSync('debugfs', ['-V']).status === 0;

function makeTree(name: string): string {
  const root = path.join(tmp, name);
  fs.mkdirSync(path.join(root, 'usr', 'sbin'), { recursive: true });
  fs.mkdirSync(path.join(root, 'etc'));
  fs.writeFileSync(path.join(root, 'etc', 'greeting'), 'hello\n');
  fs.writeFileSync(path.join(root, 'big'), Buffer.alloc(10_000));
  return root;
}

test('treeUsage counts whole blocks and every entry; the default size adds headroom in whole MiB', () => {
  const root = makeTree('usage');
  fs.symlinkSync('usr/sbin', path.join(root, 'sbin'));
  // usr, usr/sbin, etc: 3 folders; greeting (1 block), big (3 blocks), the link (1 block)
  assert.deepEqual(treeUsage(root), { bytes: (3 + 1 + 3 + 1) * 4096, inodes: 6 });
  const size = defaultImageSize({ bytes: 100 * MIB, inodes: 10 });
  assert.equal(size % MIB, 0);
  assert.ok(size >= 125 * MIB + 32 * MIB && size < 160 * MIB, `${size}`);
  assert.equal(inodeCount({ bytes: 0, inodes: 10 }), 4096);
  assert.equal(inodeCount({ bytes: 0, inodes: 10_000 }), 20_000);
});

test('resolveInTree follows the tree\'s links inside the tree, absolute ones from its root, never out of it', () => {
  const root = makeTree('links');
  fs.symlinkSync('usr/sbin', path.join(root, 'sbin'));
  fs.symlinkSync('/usr', path.join(root, 'abs'));
  fs.symlinkSync('../../../../..', path.join(root, 'up'));
  assert.equal(resolveInTree(root, 'sbin/tsvmm-agent'), path.join(root, 'usr', 'sbin', 'tsvmm-agent'));
  assert.equal(resolveInTree(root, 'abs/sbin'), path.join(root, 'usr', 'sbin'));
  assert.equal(resolveInTree(root, 'up/etc'), path.join(root, 'etc'));
  assert.equal(resolveInTree(root, '/var/tmp'), path.join(root, 'var', 'tmp'));
  fs.symlinkSync('loop', path.join(root, 'loop'));
  assert.throws(() => resolveInTree(root, 'loop/x'), /too many symbolic links/);
});

test('addAgentToTree puts the agent at /sbin/tsvmm-agent (through Debian\'s /sbin link) and makes the mount points', () => {
  const root = makeTree('agent');
  fs.symlinkSync('/usr/sbin', path.join(root, 'sbin'));
  const agent = path.join(tmp, 'fake-agent');
  fs.writeFileSync(agent, 'agent');
  addAgentToTree(root, agent);
  assert.equal(fs.readFileSync(path.join(root, 'usr', 'sbin', 'tsvmm-agent'), 'utf8'), 'agent');
  assert.equal(fs.statSync(path.join(root, 'usr', 'sbin', 'tsvmm-agent')).mode & 0o777, 0o755);
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'run', 'var/tmp']) assert.ok(fs.statSync(path.join(root, d)).isDirectory(), d);
  assert.equal(fs.statSync(path.join(root, 'tmp')).mode & 0o7777, 0o1777);
});

test('makeExt4Image writes a sparse ext4 image holding the tree; a size too small is refused', { skip: hasMkfs ? false : 'no mkfs.ext4/debugfs here' }, async () => {
  const root = makeTree('image');
  const agent = path.join(tmp, 'agent-bin');
  fs.writeFileSync(agent, 'agent');
  addAgentToTree(root, agent);
  const image = path.join(tmp, 'root.img');
  const { size } = await makeExt4Image(root, image);
  const st = fs.statSync(image);
  assert.equal(st.size, size);
  assert.ok(st.blocks * 512 < size / 4, `sparse: ${st.blocks * 512} bytes of ${size} on disk`);
  const head = Buffer.alloc(1082);
  const fd = fs.openSync(image, 'r');
  fs.readSync(fd, head, 0, head.length, 0);
  fs.closeSync(fd);
  assert.equal(imageKindOf(head), 'ext4');
  const cat = (p: string): string => execFileSync('debugfs', ['-R', `cat ${p}`, image], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  assert.equal(cat('/etc/greeting'), 'hello\n');
  assert.equal(cat(`/${IMAGE_AGENT_PATH}`), 'agent');
  await assert.rejects(makeExt4Image(root, path.join(tmp, 'small.img'), 4096), /too small/);
  assert.equal(fs.existsSync(path.join(tmp, 'small.img')), false);
});
