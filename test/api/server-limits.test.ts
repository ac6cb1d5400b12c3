// The control socket against clients that misbehave on purpose: request targets that are not the path they look
// like, too many connections, connections that send nothing or trickle, and bodies naming files no disk may be.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { VmClient } from '../../src/api/client';
import { ApiController } from '../../src/api/controller';
import { ApiServer, type SocketLimits } from '../../src/api/server';
import { failure } from '../helpers/api-failure';

let dir: string;
const logger = pino({ level: 'silent' });

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-limits-'));
  fs.writeFileSync(path.join(dir, 'vmlinux'), 'not run by these tests');
  fs.writeFileSync(path.join(dir, 'disk.img'), Buffer.alloc(4096));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function serve(name: string, limits: Partial<SocketLimits> = {}): Promise<{ server: ApiServer; sock: string }> {
  const sock = path.join(dir, name);
  return { server: await ApiServer.listen(sock, new ApiController({ logger, baseDir: dir }), { limits }), sock };
}

/** Everything the server writes on one connection, once the connection closes. */
function exchange(sock: string, text: string): { conn: net.Socket; closed: Promise<string> } {
  const conn = net.connect(sock, () => { if (text) conn.write(text); });
  let got = '';
  conn.on('data', (d: Buffer) => { got += d.toString('latin1'); });
  const closed = new Promise<string>((resolve, reject) => {
    conn.on('close', () => resolve(got));
    // A server that closes a connection with the request unread resets it; 'close' follows.
    conn.on('error', (e: NodeJS.ErrnoException) => { if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') reject(e); });
  });
  return { conn, closed };
}

function statusOf(answer: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
}

const get = (target: string): string => `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;

test('request targets are matched as sent: GET //config is 404, not GET /', async () => {
  const { server, sock } = await serve('paths.sock');
  try {
    await new VmClient(sock).putConfig({ kernel: './vmlinux' });
    for (const target of ['//config', '//', '//config/x', '/./config', 'http://localhost/config']) {
      const answer = await exchange(sock, get(target)).closed;
      assert.equal(statusOf(answer), 404, `${target}: ${answer}`);
    }
    assert.equal(statusOf(await exchange(sock, get('/config?pretty=1')).closed), 200);
  } finally {
    await server.close();
  }
});

test('a request the HTTP parser refuses is answered 400 with a JSON error, like every other refusal', async () => {
  const { server, sock } = await serve('garbled.sock');
  try {
    for (const head of [get('config'), 'NOT HTTP\r\n\r\n', 'GET / HTTP/1.1\r\nHost x\r\n\r\n']) {
      const answer = await exchange(sock, head).closed;
      assert.equal(statusOf(answer), 400, answer);
      assert.match(answer, /content-type: application\/json/i);
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error: unknown };
      assert.equal(typeof body.error, 'string');
    }
  } finally {
    await server.close();
  }
});

test('connections past the cap are closed at once; those within it are served', async () => {
  const { server, sock } = await serve('cap.sock', { maxConnections: 4 });
  try {
    const held = Array.from({ length: 4 }, () => exchange(sock, ''));
    await Promise.all(held.map((h) => new Promise((resolve) => h.conn.once('connect', resolve))));
    // Old servers answer this request; a capped one closes the connection without reading it.
    assert.equal(await exchange(sock, get('/')).closed, '');
    held[0]!.conn.write(get('/'));
    assert.equal(statusOf(await held[0]!.closed), 200);
    for (const h of held.slice(1)) h.conn.destroy();
  } finally {
    await server.close();
  }
});

test('a connection that sends nothing, or trickles its request head, is closed after the idle limit',
  { timeout: 20_000 }, async () => {
    const { server, sock } = await serve('idle.sock', { idleMs: 300 });
    try {
      const started = Date.now();
      const silent = exchange(sock, '');
      const trickle = exchange(sock, 'GET / HTTP/1.1\r\n');
      const drip = setInterval(() => { if (!trickle.conn.destroyed) trickle.conn.write('X-Drip: 1\r\n'); }, 50);
      try {
        const answers = await Promise.all([silent.closed, trickle.closed]);
        for (const a of answers) assert.ok(a === '' || statusOf(a) === 408, a);
      } finally {
        clearInterval(drip);
      }
      assert.ok(Date.now() - started < 10_000);
      // The server is still there for a client that asks in time.
      assert.equal(statusOf(await exchange(sock, get('/')).closed), 200);
    } finally {
      await server.close();
    }
  });

test('PATCH /devices/{index} holds the new file to what a disk may be; a vsock device may not take the socket',
  async () => {
    const { server, sock } = await serve('disk.sock');
    const client = new VmClient(sock);
    try {
      await client.putConfig({ kernel: './vmlinux', devices: [{ type: 'blk', path: './disk.img' }] });
      for (const file of ['/dev/zero', '/proc/self/mem']) {
        const e = await failure(client.request('PATCH', '/devices/0', { path: file }));
        assert.equal(e.status, 400, e.message);
        assert.match(e.message, new RegExp(`^path: ${file} is .*not a regular file$`));
      }
      const e = await failure(client.putConfig({ kernel: './vmlinux', devices: [{ type: 'vsock', cid: 3, socket: sock }] }));
      assert.equal(e.status, 400);
      assert.match(e.message, /^apiSocket: .*disk\.sock is also devices\[0\]\.socket/);
    } finally {
      await server.close();
    }
  });

test('a client with timeoutMs gives up on a server that never answers, naming the request', async () => {
  const sock = path.join(dir, 'silent.sock');
  const held: net.Socket[] = [];
  const silent = net.createServer((c) => { held.push(c); }); // reads the request, never answers
  await new Promise<void>((resolve) => silent.listen(sock, resolve));
  try {
    await assert.rejects(new VmClient(sock, { timeoutMs: 200 }).counters(),
      { name: 'ApiClientError', status: 0, message: 'GET /counters: no answer within 200 ms' });
  } finally {
    for (const c of held) c.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});
