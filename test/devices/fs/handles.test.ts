import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { FsError } from '../../../src/devices/fs/errors';
import { HandleTable } from '../../../src/devices/fs/handles';
import { Host, type HostStat } from '../../../src/devices/fs/host';
import { InodeTable } from '../../../src/devices/fs/inodes';
import { E } from '../../../src/devices/fs/protocol';

const isOpen = (fd: number): boolean => { try { fs.fstatSync(fd); return true; } catch { return false; } };

test('a handle released while a request uses its fd closes only when that request is done', async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-handles-')), 'f');
  fs.writeFileSync(file, 'x');
  const t = new HandleTable();
  const fd = fs.openSync(file, 'r');
  const fh = t.add(fd, 2, false, false);
  let finish!: () => void;
  const busy = t.using(t.get(BigInt(fh), false), () => new Promise<void>((r) => { finish = r; }));
  t.release(BigInt(fh), false);
  assert.equal(t.size, 0);
  assert.ok(isOpen(fd), 'still open while in use');
  assert.throws(() => t.get(BigInt(fh), false), /unknown file handle/);
  finish();
  await busy;
  assert.ok(!isOpen(fd), 'closed after the request');
  fs.rmSync(path.dirname(file), { recursive: true });
});

test('a guest that never releases or forgets is refused with ENFILE before it takes all of the VMM\'s fds', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-limits-'));
  const open = (name: string): number => {
    fs.writeFileSync(path.join(dir, name), name);
    return fs.openSync(path.join(dir, name), 'r');
  };
  const handles = new HandleTable(2);
  const kept = [open('a'), open('b')].map((fd) => handles.add(fd, 2, false, false));
  const third = open('c');
  assert.throws(() => handles.add(third, 2, false, false), (e: FsError) => e.errno === E.ENFILE);
  assert.ok(isOpen(third), 'a refused fd stays the caller\'s');
  fs.closeSync(third);
  handles.release(BigInt(kept[0]!), false);
  const fourth = open('d');
  handles.add(fourth, 2, false, false);
  handles.clear();

  const host = new Host(dir);
  const rootFd = fs.openSync(dir, 'r');
  const stat = (fd: number): HostStat => host.stat(fd);
  const inodes = new InodeTable(rootFd, stat(rootFd), 3);
  const a = inodes.ref(open('e'), stat(fs.openSync(path.join(dir, 'e'), 'r')));
  inodes.ref(open('f'), stat(fs.openSync(path.join(dir, 'f'), 'r')));
  const g = open('g');
  assert.throws(() => inodes.ref(g, stat(g)), (e: FsError) => e.errno === E.ENFILE);
  assert.ok(!isOpen(g), 'a refused node\'s fd is closed');
  inodes.forget(BigInt(a.id), 1n);
  const h = open('h');
  assert.equal(inodes.ref(h, stat(h)).refs, 1, 'room again after a FORGET');
  inodes.clear();
  fs.closeSync(rootFd);
  host.close();
  fs.rmSync(dir, { recursive: true });
});
