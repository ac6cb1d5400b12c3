// A backend that takes only part of a frame (here a FIFO, which has no frame boundaries and a bounded buffer) has
// not sent the frame: it is counted as dropped, never as sent.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { NetDevice } from '../../../src/devices/net/device';
import { NET_F } from '../../../src/devices/net/virtio-net';
import { MockDriver, mockContext } from '../../virtio-mmio/mock-driver';

const PIPE_BYTES = 64 * 1024;

test('transmit: a frame the backend took only part of is dropped, not sent', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-net-fifo-'));
  const fifo = path.join(dir, 'fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  const dev = new NetDevice({ fd, name: 'fifo', setGuestFeatures: () => {}, close: () => fs.closeSync(fd) });
  try {
    // Leave one page of the pipe free, less than the frame below.
    assert.equal(fs.writeSync(fd, Buffer.alloc(PIPE_BYTES - 4096)), PIPE_BYTES - 4096);
    const rx = new MockDriver(16, 1 << 20);
    const tx = new MockDriver(16, 0, { mem: rx.mem, base: 0x4000 });
    const features = (1n << BigInt(NET_F.MAC)) | (1n << BigInt(NET_F.STATUS));
    dev.activate(mockContext(dev, { memory: rx.mem, queues: [rx.queue(), tx.queue()], features }));
    rx.mem.fill(0x10000, 12 + 16 * 1024, 0);
    tx.addChain([{ addr: 0x10000, len: 12 + 16 * 1024, flags: 0 }]);
    dev.onQueueNotify(1);
    assert.equal(tx.usedIdx(), 1, 'the chain went back to the guest');
    const c = dev.counters();
    assert.equal(c.txFrames, 0);
    assert.equal(c.txDropped, 1);
  } finally {
    dev.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
