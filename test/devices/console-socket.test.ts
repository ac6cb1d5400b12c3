import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { BACKLOG_BYTES, ConsoleSocket } from '../../src/devices/console-socket';
import { until } from '../helpers/wait';

let dir: string;
beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-console-sock-')); });
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Connects and collects what the server sends until `until` bytes arrived or the server closes. */
function client(p: string): { socket: net.Socket; received: () => string; closed: Promise<void> } {
  const socket = net.connect(p);
  let got = '';
  socket.on('data', (d) => { got += d.toString('latin1'); });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return { socket, received: () => got, closed };
}

test('a client gets the output written before it attached, then live output; its bytes are guest input', async () => {
  const p = path.join(dir, 'hvc.sock');
  const input: string[] = [];
  const cs = new ConsoleSocket(p, { onInput: (b) => input.push(b.toString()) });
  cs.write(Buffer.from('early boot\n'));
  await cs.ready;
  const c = client(p);
  await until(() => c.received() === 'early boot\n', 'the backlog');
  cs.write(Buffer.from('later\n'));
  await until(() => c.received().endsWith('later\n'), 'live output');
  c.socket.write('ls\n');
  await until(() => input.join('') === 'ls\n', 'input');
  cs.close();
  await c.closed;
  assert.equal(fs.existsSync(p), false, 'the socket file is removed on close');
});

test('a second client while one is attached is refused; after the first leaves, the next one attaches', async () => {
  const p = path.join(dir, 'hvc.sock');
  const cs = new ConsoleSocket(p, { onInput: () => {} });
  await cs.ready;
  const first = client(p);
  await until(() => cs.stats.clients === 1, 'the first client');
  const second = client(p);
  await second.closed;
  assert.match(second.received(), /already has a client/);
  assert.equal(cs.stats.refused, 1);
  first.socket.destroy();
  await first.closed;
  await until(() => cs.stats.clients === 1 && (cs as unknown as { client?: unknown }).client === undefined, 'detach');
  const third = client(p);
  await until(() => cs.stats.clients === 2, 'the third client');
  cs.write(Buffer.from('x'));
  await until(() => third.received() === 'x', 'output to the new client');
  cs.close();
});

test('output kept for no client is bounded: the oldest bytes are dropped and counted', async () => {
  const p = path.join(dir, 'hvc.sock');
  const cs = new ConsoleSocket(p, { onInput: () => {} });
  const chunk = Buffer.alloc(1000, 0x61);
  for (let i = 0; i < 100; i++) cs.write(chunk);
  cs.write(Buffer.from('END'));
  assert.equal(cs.stats.droppedOutput, 100 * 1000 + 3 - BACKLOG_BYTES);
  await cs.ready;
  const c = client(p);
  await until(() => c.received().length === BACKLOG_BYTES, 'the bounded backlog');
  assert.ok(c.received().endsWith('aaaEND'));
  cs.close();
});

test('a stale socket file is replaced; a live server keeps its path; a regular file is not touched', async () => {
  const stale = path.join(dir, 'stale.sock');
  // A process that bound the path and went away leaves the socket file with nobody behind it.
  execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', stale]);
  assert.ok(fs.lstatSync(stale).isSocket());
  const cs = new ConsoleSocket(stale, { onInput: () => {} });
  await cs.ready;
  cs.close();

  const live = path.join(dir, 'live.sock');
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(live, r));
  const errors: Error[] = [];
  const other = new ConsoleSocket(live, { onInput: () => {}, onError: (e) => errors.push(e) });
  await until(() => errors.length === 1, 'the in-use error');
  assert.match(errors[0]!.message, /served by another process/);
  other.close();
  assert.ok(fs.existsSync(live), 'the live server keeps its socket file');
  server.close();

  const file = path.join(dir, 'notes.txt');
  fs.writeFileSync(file, 'keep me');
  const errs: Error[] = [];
  const third = new ConsoleSocket(file, { onInput: () => {}, onError: (e) => errs.push(e) });
  await until(() => errs.length === 1, 'the not-a-socket error');
  assert.match(errs[0]!.message, /not a socket/);
  assert.equal(fs.readFileSync(file, 'utf8'), 'keep me');
  third.close();
});

test('a client that does not read gets at most a bounded amount queued; the rest is dropped and counted', async () => {
  const p = path.join(dir, 'hvc.sock');
  const cs = new ConsoleSocket(p, { onInput: () => {} });
  await cs.ready;
  const c = client(p);
  c.socket.pause();
  await until(() => cs.stats.clients === 1, 'the client');
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  for (let i = 0; i < 64; i++) cs.write(chunk);
  assert.ok(cs.stats.droppedOutput > 0, 'output beyond the bound was dropped');
  assert.ok(cs.stats.droppedOutput % chunk.length === 0);
  cs.close();
  c.socket.destroy();
});
