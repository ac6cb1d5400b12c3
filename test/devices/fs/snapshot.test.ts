// virtio-fs in a snapshot: the nodes and open handles the guest holds go into the device's state by path and
// flags; a restored device on the same share answers the same node ids and file handles (a READ through a handle
// opened before the snapshot, a GETATTR, a LOOKUP count a FORGET can take back). A share changed under a node, a
// held file deleted, and state that does not fit are refused.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { FsDevice } from '../../../src/devices/fs/device';
import { FuseClient } from './fuse-client';

const O_RDONLY = 0;
const O_RDWR = 2;

function client(): FuseClient {
  return new FuseClient({ populate: (share) => {
    fs.mkdirSync(path.join(share, 'sub'));
    fs.writeFileSync(path.join(share, 'sub', 'a.txt'), 'snapshot me\n');
  } });
}

/** A client that has looked up sub/a.txt and opened it with `flags`, as a guest holding that file would. */
async function holding(flags: number) {
  const c = client();
  await c.init();
  const sub = await c.lookup(1n, 'sub');
  const a = await c.lookup(sub.nodeid, 'a.txt');
  const fh = await c.open(a.nodeid, flags);
  return { c, sub, a, fh };
}

test('a restored fs device answers the node ids and file handles the guest held', async (t) => {
  const { c, a, fh } = await holding(O_RDWR);
  t.after(() => c.close());
  const saved = JSON.parse(JSON.stringify(c.dev.snapshotState())) as { nodes: unknown[][]; handles: unknown[][] };
  assert.deepEqual(saved.nodes.map((n) => n[2]), ['sub', 'sub/a.txt']);
  assert.deepEqual(saved.handles.map((h) => h.slice(0, 4)), [[Number(fh), Number(a.nodeid), false, true]]);

  const restored = new FsDevice({ tag: 'share0', path: c.share, readonly: false });
  restored.restoreState(saved);
  c.replaceDevice(restored);
  const r = await c.read(a.nodeid, fh, 0, 64);
  assert.equal(r.error, 0);
  assert.equal(r.body.toString(), 'snapshot me\n');
  assert.equal(Number((await c.getattr(a.nodeid)).size), 12);
  assert.equal(restored.counters().inodes, 3, 'the root and the two nodes');
  assert.equal(restored.counters().handles, 1);
  // A new node gets an id past the restored ones.
  fs.writeFileSync(path.join(c.share, 'b.txt'), 'b');
  assert.ok((await c.lookup(1n, 'b.txt')).nodeid > a.nodeid);
});

test('a changed share, a deleted held file and state that does not fit are refused', async (t) => {
  const { c } = await holding(O_RDONLY);
  t.after(() => c.close());
  const saved = JSON.parse(JSON.stringify(c.dev.snapshotState())) as { nodes: unknown[][]; handles: unknown[][] };
  const restored = new FsDevice({ tag: 'share0', path: c.share, readonly: false });
  t.after(() => restored.close());
  assert.throws(() => restored.restoreState({ ...saved, handles: [[1, 99, false, false, 0]] }), /handles\[0\] is not a handle/);
  assert.throws(() => restored.restoreState({ ...saved, nodes: [[1, 1, '.', 'x']] }), /nodes\[0\] id is 1/);
  // Replaced under the same name: another inode.
  fs.renameSync(path.join(c.share, 'sub', 'a.txt'), path.join(c.share, 'old.txt'));
  fs.writeFileSync(path.join(c.share, 'sub', 'a.txt'), 'new');
  assert.throws(() => restored.restoreState(saved), /nodes\[1\]: sub\/a\.txt is another file than at the snapshot/);
  assert.equal(restored.counters().inodes, 1, 'nothing left open');
  // The guest holds a file that has no name any more.
  fs.unlinkSync(path.join(c.share, 'old.txt'));
  assert.throws(() => c.dev.snapshotState(), /has no name in the share any more/);
});
