// Each virtio-gpu command as a well-behaved driver sends it, through the mock driver: what it answers, what it
// changes, and the fence each answer carries back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CMD, CONTROLQ, CURSORQ, EVENT_DISPLAY, F_EDID, FLAG_FENCE, GPU_DEVICE_TYPE, RESP } from '../../../src/devices/gpu/protocol';
import {
  attachBacking, create2d, cursorCommand, flush, PAGES, request, setScanout, setup, transfer,
} from './harness';

const BGRX = 2;

test('device type 16 with a control and a cursor queue, EDID offered and nothing else', () => {
  const { dev } = setup();
  assert.equal(dev.deviceType, GPU_DEVICE_TYPE);
  assert.equal(dev.queueMaxSizes.length, 2);
  assert.equal(CONTROLQ, 0);
  assert.equal(CURSORQ, 1);
  assert.equal(dev.features, 1n << F_EDID);
});

test('the config space: events_read, events_clear, num_scanouts, num_capsets 0; writing events_clear clears', () => {
  const { dev } = setup({ scanouts: 3 });
  const c = Buffer.from(dev.configSpace());
  assert.equal(c.length, 16);
  assert.deepEqual([c.readUInt32LE(0), c.readUInt32LE(4), c.readUInt32LE(8), c.readUInt32LE(12)], [0, 0, 3, 0]);
  let changed = 0;
  dev.attach({ configChanged: () => changed++, threw: (e) => { throw e; } });
  dev.setDisplaySize(800, 600);
  assert.equal(changed, 1);
  assert.equal(Buffer.from(dev.configSpace()).readUInt32LE(0), EVENT_DISPLAY);
  dev.configWrite(0, Uint8Array.of(0xff, 0xff, 0xff, 0xff)); // events_read is the device's
  dev.configWrite(8, Uint8Array.of(9, 0, 0, 0)); // so is num_scanouts
  assert.equal(Buffer.from(dev.configSpace()).readUInt32LE(0), EVENT_DISPLAY);
  assert.equal(Buffer.from(dev.configSpace()).readUInt32LE(8), 3);
  dev.configWrite(4, Uint8Array.of(EVENT_DISPLAY, 0, 0, 0));
  assert.equal(Buffer.from(dev.configSpace()).readUInt32LE(0), 0);
  assert.throws(() => dev.setDisplaySize(8, 600), RangeError);
});

test('GET_DISPLAY_INFO: every scanout enabled at the configured size, the rest of the 16 zero', () => {
  const g = setup({ width: 1280, height: 800, scanouts: 2 });
  const r = g.send(request(CMD.GET_DISPLAY_INFO));
  assert.equal(r.type, RESP.OK_DISPLAY_INFO);
  assert.equal(r.len, 408);
  const mode = (i: number): number[] => [0, 4, 8, 12, 16, 20].map((o) => r.body.readUInt32LE(24 * i + o));
  assert.deepEqual(mode(0), [0, 0, 1280, 800, 1, 0]);
  assert.deepEqual(mode(1), [0, 0, 1280, 800, 1, 0]);
  assert.deepEqual(mode(2), [0, 0, 0, 0, 0, 0]);
  g.dev.setDisplaySize(640, 480);
  assert.deepEqual(g.send(request(CMD.GET_DISPLAY_INFO)).body.subarray(8, 16), Buffer.from([128, 2, 0, 0, 224, 1, 0, 0]));
});

test('GET_EDID: 128 bytes for the scanout, with the configured mode as its preferred timing', () => {
  const g = setup({ width: 1920, height: 1080, scanouts: 2 });
  const r = g.send(request(CMD.GET_EDID, [1, 0]));
  assert.equal(r.type, RESP.OK_EDID);
  assert.equal(r.len, 24 + 8 + 1024);
  assert.equal(r.body.readUInt32LE(0), 128);
  const edid = r.body.subarray(8, 8 + 128);
  assert.deepEqual([...edid.subarray(0, 8)], [0, 255, 255, 255, 255, 255, 255, 0]);
  const dtd = edid.subarray(54, 72);
  assert.equal(dtd[2]! | ((dtd[4]! >> 4) << 8), 1920);
  assert.equal(dtd[5]! | ((dtd[7]! >> 4) << 8), 1080);
  assert.equal(edid.readUInt32LE(12), 1, 'the serial number is the scanout');
  assert.ok(r.body.subarray(8 + 128).every((b) => b === 0));
});

test('a resource\'s life: create, attach, transfer, set on a scanout, flush, detach, unref', async () => {
  const g = setup();
  assert.equal(g.type(create2d(5, BGRX, 64, 32)), RESP.OK_NODATA);
  assert.deepEqual([g.dev.counters().resources, g.dev.counters().hostBytes], [1, 64 * 32 * 4]);
  const image = Buffer.alloc(64 * 32 * 4);
  for (let i = 0; i < image.length; i++) image[i] = (i * 7) & 0xff;
  g.mem.write(PAGES, image.subarray(0, 4096));
  g.mem.write(PAGES + 0x10000, image.subarray(4096)); // two runs of pages, as scattered as a guest's
  assert.equal(g.type(attachBacking(5, [{ addr: PAGES, length: 4096 }, { addr: PAGES + 0x10000, length: 4096 }])),
    RESP.OK_NODATA);
  assert.equal((await g.sendAndWait(transfer(5, [0, 0, 64, 32]))).type, RESP.OK_NODATA);
  assert.equal(g.dev.counters().transferredBytes, image.length);
  assert.equal(g.type(setScanout(0, 5, [8, 4, 32, 16])), RESP.OK_NODATA);
  const frame = g.dev.scanoutFrame(0)!;
  assert.deepEqual([frame.x, frame.y, frame.width, frame.height, frame.stride, frame.format], [8, 4, 32, 16, 256, BGRX]);
  assert.deepEqual(Buffer.from(frame.pixels), image);
  assert.equal(g.type(flush(5, [0, 0, 64, 32])), RESP.OK_NODATA);
  assert.equal(g.dev.counters().flushes, 1);
  assert.equal(g.type(request(CMD.RESOURCE_DETACH_BACKING, [5, 0])), RESP.OK_NODATA);
  assert.equal(g.type(request(CMD.RESOURCE_UNREF, [5, 0])), RESP.OK_NODATA);
  assert.equal(g.dev.scanoutFrame(0), undefined, 'a scanout never shows a resource that is gone');
  assert.deepEqual([g.dev.counters().resources, g.dev.counters().hostBytes], [0, 0]);
  assert.deepEqual(g.ctx.failures, []);
  assert.equal(g.dev.counters().errors, 0);
});

test('a partial transfer lands at its rectangle; the backing row stride is the resource\'s', async () => {
  const g = setup();
  g.type(create2d(1, 67, 4, 4));
  const backing = Buffer.alloc(64);
  for (let i = 0; i < 64; i++) backing[i] = i + 1;
  g.mem.write(PAGES, backing);
  g.type(attachBacking(1, [{ addr: PAGES, length: 64 }]));
  // Rows 1..2, columns 2..3: the rectangle's first pixel is at offset 1 * 16 + 2 * 4 of the backing.
  assert.equal((await g.sendAndWait(transfer(1, [2, 1, 2, 2], 24n))).type, RESP.OK_NODATA);
  g.type(setScanout(0, 1, [0, 0, 4, 4]));
  const px = Buffer.from(g.dev.scanoutFrame(0)!.pixels);
  const expected = Buffer.alloc(64);
  for (const y of [1, 2]) backing.copy(expected, y * 16 + 8, y * 16 + 8, y * 16 + 16);
  assert.deepEqual(px, expected);
  assert.equal(g.dev.counters().transferredBytes, 16);
});

test('SET_SCANOUT with resource 0 disables the scanout', () => {
  const g = setup();
  g.type(create2d(1, BGRX, 16, 16));
  g.type(setScanout(0, 1, [0, 0, 16, 16]));
  assert.ok(g.dev.scanoutFrame(0) !== undefined);
  assert.equal(g.type(setScanout(0, 0, [0, 0, 0, 0])), RESP.OK_NODATA);
  assert.equal(g.dev.scanoutFrame(0), undefined);
  assert.equal(g.dev.counters().resources, 1, 'the resource stays');
});

test('a fenced request is answered with FENCE and its fence_id; an unfenced one with neither', async () => {
  const g = setup();
  const fenced = g.send(create2d(1, BGRX, 16, 16, 0x1234_5678_9abc_def0n));
  assert.deepEqual([fenced.type, fenced.flags & FLAG_FENCE, fenced.fenceId], [RESP.OK_NODATA, FLAG_FENCE, 0x1234_5678_9abc_def0n]);
  const failed = g.send(create2d(1, BGRX, 16, 16, 7n)); // the ID is taken: errors carry the fence too
  assert.deepEqual([failed.type, failed.flags, failed.fenceId], [RESP.ERR_INVALID_RESOURCE_ID, FLAG_FENCE, 7n]);
  g.type(attachBacking(1, [{ addr: PAGES, length: 16 * 16 * 4 }]));
  const moved = await g.sendAndWait(transfer(1, [0, 0, 16, 16], 0n, 99n));
  assert.deepEqual([moved.type, moved.flags, moved.fenceId], [RESP.OK_NODATA, FLAG_FENCE, 99n]);
  const plain = g.send(request(CMD.GET_DISPLAY_INFO, [], undefined, undefined, 3));
  assert.deepEqual([plain.flags, plain.fenceId, plain.ctxId], [0, 0n, 3]);
  assert.equal(g.dev.counters().fences, 3);
});

test('cursor commands: kept, returned with nothing written; a resource going away hides the cursor', () => {
  const g = setup({ scanouts: 2 });
  g.type(create2d(9, 1, 64, 64));
  assert.equal(g.cursor(cursorCommand(CMD.UPDATE_CURSOR, 1, 100, 200, 9, 3, 4)), 0);
  assert.deepEqual(g.dev.cursorState(), { scanout: 1, x: 100, y: 200, resourceId: 9, hotX: 3, hotY: 4 });
  assert.equal(g.cursor(cursorCommand(CMD.MOVE_CURSOR, 1, 5, 6, 0)), 0);
  assert.deepEqual(g.dev.cursorState(), { scanout: 1, x: 5, y: 6, resourceId: 9, hotX: 3, hotY: 4 },
    'a move keeps the image');
  g.type(request(CMD.RESOURCE_UNREF, [9, 0]));
  assert.equal(g.dev.cursorState().resourceId, 0);
  assert.equal(g.dev.counters().cursorRequests, 2);
  assert.equal(g.dev.counters().errors, 0);
});

test('requests made available before DRIVER_OK are answered when the device starts', () => {
  const g = setup();
  g.dev.reset();
  g.ctrl.addChain([{ addr: 0x20000, len: 24, flags: 0 }, { addr: 0x80000, len: 408, flags: 2 }]);
  g.mem.write(0x20000, request(CMD.GET_DISPLAY_INFO));
  g.dev.activate(g.ctx);
  assert.equal(g.ctrl.usedIdx(), 1);
  assert.equal(g.mem.readU32(0x80000), RESP.OK_DISPLAY_INFO);
});

test('a reset removes every resource and scanout', () => {
  const g = setup();
  g.type(create2d(1, BGRX, 16, 16));
  g.type(setScanout(0, 1, [0, 0, 16, 16]));
  g.dev.reset();
  assert.equal(g.dev.scanoutFrame(0), undefined);
  assert.deepEqual([g.dev.counters().resources, g.dev.counters().hostBytes], [0, 0]);
});
