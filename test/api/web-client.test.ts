// One browser console client with a fake socket and a clock moved by hand: the full frame first, dirty rectangles
// after, at most FRAMES_PER_SECOND updates a second, large rectangles in bands, and a socket that does not drain
// getting nothing more, its changes collapsed into one full refresh sent once it has drained.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BAND_BYTES, FRAMES_PER_SECOND, HIGH_WATER, MAX_RECTS, WebClient, type WebInput } from '../../src/api/web-client';
import { clipRect, pixelsMessage, PIXELS_HEADER_BYTES, serialMessage } from '../../src/api/web-frame';
import { bgrxFrame, expectedRgba, FakeScreen, FakeSocket, ManualClock } from './web-fakes';

const INTERVAL = Math.ceil(1000 / FRAMES_PER_SECOND);
const noInput: WebInput = { key: () => {}, pointer: () => {} };

function rig(width = 8, height = 4) {
  const screen = new FakeScreen(bgrxFrame(width, height));
  const socket = new FakeSocket();
  const clock = new ManualClock();
  const client = new WebClient(socket, screen, noInput, clock);
  return { screen, socket, clock, client };
}

test('pixelsMessage: the header, then the rectangle as RGBA; clipRect keeps it on the screen', () => {
  const frame = bgrxFrame(8, 4);
  const m = pixelsMessage(frame, { x: 2, y: 1, width: 3, height: 2 });
  assert.equal(m[0], 1);
  assert.deepEqual([4, 6, 8, 10, 12, 14].map((at) => m.readUInt16LE(at)), [2, 1, 3, 2, 8, 4]);
  assert.deepEqual(m.subarray(PIXELS_HEADER_BYTES), expectedRgba({ x: 2, y: 1, width: 3, height: 2 }));
  // A scanout showing part of a bigger resource: its own pixel (0, 0) is the resource's (x, y).
  const big = { ...bgrxFrame(16, 16), x: 4, y: 5, width: 8, height: 4 };
  const shifted = pixelsMessage(big, { x: 0, y: 0, width: 1, height: 1 });
  assert.deepEqual([...shifted.subarray(PIXELS_HEADER_BYTES)], [7, 5, 4, 255]);
  assert.deepEqual(clipRect({ x: 6, y: 3, width: 10, height: 10 }, 8, 4), { x: 6, y: 3, width: 2, height: 1 });
  assert.equal(clipRect({ x: 8, y: 0, width: 1, height: 1 }, 8, 4), undefined);
  assert.deepEqual([...serialMessage(Buffer.from('hi'))], [2, 0x68, 0x69]);
});

test('the full frame first, then only the dirty rectangles, at most one update per interval', () => {
  const { screen, socket, clock, client } = rig();
  clock.advance(0);
  assert.deepEqual(socket.rects(), [{ x: 0, y: 0, width: 8, height: 4, screen: [8, 4] }]);
  client.damage({ x: 1, y: 1, width: 2, height: 2 });
  client.damage({ x: 5, y: 0, width: 1, height: 1 });
  clock.advance(INTERVAL - 2);
  assert.equal(socket.rects().length, 1, 'nothing before the interval has passed');
  clock.advance(2);
  assert.deepEqual(socket.rects().slice(1), [
    { x: 1, y: 1, width: 2, height: 2, screen: [8, 4] }, { x: 5, y: 0, width: 1, height: 1, screen: [8, 4] },
  ]);
  assert.deepEqual((socket.sent[1] as Buffer).subarray(PIXELS_HEADER_BYTES), expectedRgba({ x: 1, y: 1, width: 2, height: 2 }));
  // A mode change (the whole scanout changed, bigger now) is a full frame of the new size.
  screen.frameNow = bgrxFrame(10, 6);
  client.damage();
  clock.advance(INTERVAL);
  assert.deepEqual(socket.rects().at(-1), { x: 0, y: 0, width: 10, height: 6, screen: [10, 6] });
  assert.equal(clock.pending, 0, 'nothing waits once all is sent');
});

test('nothing shown: the page is told once; a frame later is sent whole', () => {
  const { screen, socket, clock, client } = rig();
  screen.frameNow = undefined;
  clock.advance(0);
  client.damage();
  clock.advance(INTERVAL);
  assert.deepEqual(socket.sent, [JSON.stringify({ t: 'blank' })]);
  screen.frameNow = bgrxFrame(4, 4);
  client.damage();
  clock.advance(INTERVAL);
  assert.deepEqual(socket.rects(), [{ x: 0, y: 0, width: 4, height: 4, screen: [4, 4] }]);
});

test('a socket that does not drain gets nothing more; what changed meanwhile is one full refresh once it drains', () => {
  const { socket, clock, client } = rig();
  clock.advance(0);
  socket.bufferedAmount = HIGH_WATER + 1;
  for (let i = 0; i < 100; i++) client.damage({ x: i % 8, y: 0, width: 1, height: 1 });
  clock.advance(10 * INTERVAL);
  assert.equal(socket.rects().length, 1, 'only the first frame');
  assert.equal(client.counters.coalesced > 0, true);
  client.damage({ x: 0, y: 0, width: 1, height: 1 });
  socket.bufferedAmount = 0;
  clock.advance(INTERVAL);
  assert.deepEqual(socket.rects().slice(1), [{ x: 0, y: 0, width: 8, height: 4, screen: [8, 4] }]);
  assert.equal(clock.pending, 0);
});

test('more rectangles than MAX_RECTS collapse into a full refresh', () => {
  const { socket, clock, client } = rig();
  clock.advance(0);
  for (let i = 0; i <= MAX_RECTS; i++) client.damage({ x: 0, y: 0, width: 1, height: 1 });
  clock.advance(INTERVAL);
  assert.deepEqual(socket.rects().slice(1), [{ x: 0, y: 0, width: 8, height: 4, screen: [8, 4] }]);
  assert.equal(client.counters.coalesced, 1);
});

test('a large rectangle goes in bands, and stops while the socket is full', () => {
  const width = 1024;
  const height = 1024;
  const { socket, clock, client } = rig(width, height);
  const rows = Math.floor((BAND_BYTES - PIXELS_HEADER_BYTES) / (width * 4));
  // The socket fills after two bands.
  const send = socket.send.bind(socket);
  socket.send = (data) => {
    send(data);
    if (socket.rects().length === 2) socket.bufferedAmount = HIGH_WATER + 1;
  };
  clock.advance(0);
  assert.deepEqual(socket.rects().map((r) => [r.y, r.height]), [[0, rows], [rows, rows]]);
  for (const m of socket.sent) assert.ok((m as Buffer).length <= BAND_BYTES);
  // Drained by the next update: the bands left follow.
  socket.bufferedAmount = 0;
  socket.send = send;
  clock.advance(INTERVAL);
  const bands = Math.ceil(height / rows);
  assert.deepEqual(socket.rects().slice(2).map((r) => r.y), Array.from({ length: bands - 2 }, (_, i) => (i + 2) * rows));
  // Still full when the next update is due: the bands left become a full refresh, sent once it has drained.
  const before = socket.rects().length;
  socket.bufferedAmount = HIGH_WATER + 1;
  client.damage({ x: 0, y: 0, width, height: 2 * rows + 1 });
  clock.advance(INTERVAL);
  socket.send = (data) => {
    send(data);
    if (socket.rects().length === before + 1) socket.bufferedAmount = HIGH_WATER + 1;
  };
  socket.bufferedAmount = 0;
  clock.advance(INTERVAL);
  socket.send = send;
  socket.bufferedAmount = HIGH_WATER + 1;
  clock.advance(INTERVAL);
  socket.bufferedAmount = 0;
  clock.advance(INTERVAL);
  assert.deepEqual(socket.rects().slice(before).map((r) => r.y),
    [0, ...Array.from({ length: bands }, (_, i) => i * rows)]);
  assert.ok(client.counters.coalesced >= 1);
});

test('serial output is dropped and counted while the socket is full', () => {
  const { socket, client } = rig();
  client.serialOutput(serialMessage(Buffer.from('one')));
  socket.bufferedAmount = HIGH_WATER + 1;
  client.serialOutput(serialMessage(Buffer.from('two!')));
  assert.equal(socket.sent.filter((m) => typeof m !== 'string' && m[0] === 2).length, 1);
  assert.equal(client.counters.serialDropped, 4);
});

test('stop() ends the updates and lets go of held keys and buttons', () => {
  const screen = new FakeScreen(bgrxFrame(8, 4));
  const socket = new FakeSocket();
  const clock = new ManualClock();
  const calls: string[] = [];
  const client = new WebClient(socket, screen, {
    key: (code, action) => calls.push(`key ${code} ${action}`),
    pointer: (x, y, buttons, s) => calls.push(`pointer ${x},${y} ${buttons} of ${s.width}x${s.height}`),
  }, clock);
  client.receive(JSON.stringify({ t: 'key', code: 'ShiftLeft', down: true }));
  client.receive(JSON.stringify({ t: 'key', code: 'KeyA', down: true }));
  client.receive(JSON.stringify({ t: 'key', code: 'KeyA', down: false }));
  client.receive(JSON.stringify({ t: 'pointer', x: 100, y: 2, buttons: 1 }));
  client.stop();
  assert.deepEqual(calls, ['key 42 press', 'key 30 press', 'key 30 release', 'pointer 7,2 1 of 8x4', 'key 42 release',
    'pointer 7,2 0 of 8x4']);
  client.damage();
  clock.advance(10 * INTERVAL);
  assert.equal(socket.rects().length, 0);
});
