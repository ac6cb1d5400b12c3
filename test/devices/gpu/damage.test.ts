// The scanout-change events the host's display listens to: a flush names the part of each scanout it changed, in
// the scanout's own pixels; setting or taking a resource off a scanout, or a reset, names the whole scanout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clipToScanout } from '../../../src/devices/gpu/commands';
import type { Rect } from '../../../src/devices/gpu/protocol';
import { create2d, flush, request, setScanout, setup, showImage } from './harness';
import { CMD, RESP } from '../../../src/devices/gpu/protocol';

test('clipToScanout: the shown part in scanout pixels, none outside', () => {
  const view = { x: 10, y: 20, width: 100, height: 50 };
  assert.deepEqual(clipToScanout({ x: 0, y: 0, width: 15, height: 25 }, view), { x: 0, y: 0, width: 5, height: 5 });
  assert.deepEqual(clipToScanout({ x: 50, y: 60, width: 500, height: 500 }, view), { x: 40, y: 40, width: 60, height: 10 });
  assert.equal(clipToScanout({ x: 0, y: 0, width: 10, height: 100 }, view), undefined);
  assert.equal(clipToScanout({ x: 110, y: 20, width: 5, height: 5 }, view), undefined);
});

test('a flush, a set scanout, an unref and a reset reach the listener; a stopped listener hears nothing', async () => {
  const g = setup({ scanouts: 2 });
  const heard: [number, Rect | undefined][] = [];
  const stop = g.dev.onScanoutChange((scanout, rect) => heard.push([scanout, rect]));
  await showImage(g, 1, 1, 64, 32, Buffer.alloc(64 * 32 * 4));
  assert.deepEqual(heard, [[0, undefined]]);
  heard.length = 0;
  assert.equal(g.type(setScanout(1, 1, [16, 8, 32, 16])), RESP.OK_NODATA);
  assert.equal(g.type(flush(1, [0, 0, 20, 10])), RESP.OK_NODATA);
  assert.deepEqual(heard, [[1, undefined], [0, { x: 0, y: 0, width: 20, height: 10 }],
    [1, { x: 0, y: 0, width: 4, height: 2 }]]);
  heard.length = 0;
  // A flush of a resource no scanout shows, and a failed one, tell nothing.
  assert.equal(g.type(create2d(2, 1, 8, 8)), RESP.OK_NODATA);
  assert.equal(g.type(flush(2, [0, 0, 8, 8])), RESP.OK_NODATA);
  assert.equal(g.type(flush(1, [0, 0, 65, 1])), RESP.ERR_INVALID_PARAMETER);
  assert.deepEqual(heard, []);
  assert.equal(g.type(request(CMD.RESOURCE_UNREF, [1, 0])), RESP.OK_NODATA);
  assert.deepEqual(heard, [[0, undefined], [1, undefined]]);
  heard.length = 0;
  g.dev.reset();
  assert.deepEqual(heard, [[0, undefined], [1, undefined]]);
  stop();
  heard.length = 0;
  g.dev.reset();
  assert.deepEqual(heard, []);
});
