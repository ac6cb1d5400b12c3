// Guest RAM mapped copy-on-write from a file (a snapshot's memory.bin): the guest's writes stay in the machine's
// own copies, the file and other machines mapping it never see them, untouched pages are the file's shared page
// cache pages, and another thread reads the private bytes by the mapping's id.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { GuestRam } from '../../src/base/guest-ram';
import { native } from '../../src/base/native';

const MiB = 1 << 20;
const LAYOUT = [{ gpa: 0, size: 2 * MiB }, { gpa: 4 * MiB, size: 2 * MiB }];

describe('copy-on-write guest RAM', () => {
  let dir: string;
  let file: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-cow-'));
    file = path.join(dir, 'memory.bin');
    const bytes = Buffer.alloc(4 * MiB);
    bytes.fill(0x11, 0, 2 * MiB);
    bytes.fill(0x22, 2 * MiB);
    fs.writeFileSync(file, bytes);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const open = (): GuestRam => GuestRam.fromFile(LAYOUT, fs.openSync(file, 'r'));

  it('reads the file at each region\'s offset and keeps its writes to itself', () => {
    const a = open();
    const b = open();
    try {
      assert.equal(a.copyOnWrite, true);
      assert.equal(a.memory.readU8(0x1000), 0x11);
      assert.equal(a.memory.readU8(4 * MiB + 5), 0x22, 'the second region starts at its memfd offset');
      a.memory.writeU8(0x1000, 0xaa);
      assert.equal(a.memory.readU8(0x1000), 0xaa);
      assert.equal(b.memory.readU8(0x1000), 0x11, 'another machine on the same file');
      assert.equal(fs.readFileSync(file)[0x1000], 0x11, 'the file');
    } finally {
      a.close();
      b.close();
    }
  });

  it('discard gives the pages back as zeros, as a memfd\'s RAM does, and the file keeps its bytes', () => {
    const ram = open();
    try {
      ram.memory.fill(4 * MiB, 4096, 0x5a);
      ram.discard(4 * MiB, 8192);
      assert.equal(ram.memory.readU8(4 * MiB), 0, 'a page the guest had written');
      assert.equal(ram.memory.readU8(4 * MiB + 4096), 0, 'a page it had only read from the file');
      assert.equal(ram.memory.readU8(4 * MiB + 8192), 0x22, 'the next page is still the file\'s');
      ram.memory.writeU8(4 * MiB, 9);
      assert.equal(ram.memory.readU8(4 * MiB), 9, 'writable again');
      assert.equal(fs.readFileSync(file)[2 * MiB], 0x22);
    } finally {
      ram.close();
    }
  });

  it('refuses a file that is not exactly as large as RAM, and closes it', () => {
    const small = path.join(dir, 'small.bin');
    fs.writeFileSync(small, Buffer.alloc(MiB));
    const fd = fs.openSync(small, 'r');
    assert.throws(() => GuestRam.fromFile(LAYOUT, fd), /holds 1048576 bytes, not the 4194304/);
    assert.throws(() => fs.fstatSync(fd), { code: 'EBADF' });
  });

  it('another thread reads the private bytes by id, and nothing once RAM is closed', async () => {
    const ram = open();
    ram.memory.writeU8(4 * MiB + 7, 0x77);
    const id = ram.mappingIds[1]!;
    const read = (): Promise<number | string> => new Promise((resolve, reject) => {
      const w = new Worker(`
        const { parentPort, workerData } = require('node:worker_threads');
        const { native } = require(workerData.native);
        try { parentPort.postMessage(native().readMapping(workerData.id, 7, 1)[0]); }
        catch (e) { parentPort.postMessage(e.name + ': ' + e.message); }`,
      { eval: true, workerData: { id, native: require.resolve('../../src/base/native') } });
      w.once('message', resolve);
      w.once('error', reject);
    });
    assert.equal(await read(), 0x77);
    assert.throws(() => native().readMapping(id, 2 * MiB, 1), RangeError);
    ram.close();
    assert.match(String(await read()), /^RangeError: no such mapping/);
  });
});
