// The browser console's server with a fake scanout and a real vm.input over fake devices (no machine): the token
// on every HTTP and WebSocket request, the page, a flush becoming a rectangle of the right pixels, keys and the
// pointer reaching the input devices as Linux events, serial output and input, bad messages, the client cap, close.
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import * as vm from 'node:vm';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { MAX_CLIENTS, MAX_PAYLOAD, serveWebConsole, type WebConsole } from '../../src/api/web-console';
import { PIXELS_HEADER_BYTES } from '../../src/api/web-frame';
import { ABS_X, ABS_Y, BTN_LEFT, EV, TABLET_MAX } from '../../src/devices/input';
import { bgrxFrame, expectedRgba, FakeMachine, FakeScreen } from './web-fakes';

const machine = new FakeMachine(new FakeScreen(bgrxFrame(8, 4)));
const { screen, sent, serialIn } = machine;
let web: WebConsole;
let token: string;

before(async () => {
  web = await serveWebConsole(machine.sources);
  token = new URL(web.url).searchParams.get('token')!;
});
after(() => web.close());

function get(path: string, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http.request({ host: '127.0.0.1', port: web.port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => {
        resolve({ status: res.statusCode!, headers: res.headers, body });
      });
    }).on('error', reject).end();
  });
}

/** A browser: its messages, and a wait for the next one. */
class Browser {
  readonly ws: WebSocket;
  private readonly queue: (Buffer | string)[] = [];
  private wake: (() => void) | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(query = `token=${token}`, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(`ws://127.0.0.1:${web.port}/ws?${query}`, { headers });
    this.ws.on('message', (data: Buffer, isBinary) => {
      this.queue.push(isBinary ? data : data.toString());
      this.wake?.();
    });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => { resolve({ code, reason: reason.toString() }); });
    });
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => { this.ws.once('open', () => { resolve(); }).once('error', reject); });
  }

  /** The HTTP status a refused upgrade was answered with. */
  refused(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode!); this.ws.terminate(); });
      this.ws.once('open', () => { reject(new Error('the upgrade was accepted')); });
      this.ws.on('error', () => {});
    });
  }

  async next(): Promise<Buffer | string> {
    while (this.queue.length === 0) await new Promise<void>((resolve) => { this.wake = resolve; });
    return this.queue.shift()!;
  }

  send(m: unknown): void { this.ws.send(typeof m === 'string' ? m : JSON.stringify(m)); }

  async close(): Promise<void> {
    this.ws.close();
    await this.closed;
  }
}

/** A browser that is connected and has had its first full frame (and maybe the serial backlog). */
async function browser(): Promise<Browser> {
  const b = new Browser();
  await b.opened();
  // The serial backlog may come first.
  let first = await b.next();
  while (Buffer.isBuffer(first) && first[0] === 2) first = await b.next();
  assert.ok(Buffer.isBuffer(first) && first[0] === 1);
  return b;
}

/** Waits until the server has noticed `n` browsers connected. */
async function clients(n: number): Promise<void> {
  while (web.clients !== n) await new Promise((resolve) => setImmediate(resolve));
}

test('the address: 127.0.0.1, a free port, a token of at least 128 random bits', () => {
  const url = new URL(web.url);
  assert.equal(url.hostname, '127.0.0.1');
  assert.equal(Number(url.port), web.port);
  assert.ok(web.port > 0);
  assert.match(token, /^[A-Za-z0-9_-]{22,}$/);
});

test('HTTP: 403 without the token or with another; the page with it; 404 and 405 for the rest', async () => {
  assert.equal((await get('/')).status, 403);
  assert.equal((await get(`/?token=${token}x`)).status, 403);
  assert.equal((await get(`/?token=${token.slice(0, -1)}`)).status, 403);
  assert.equal((await get('/nothing')).status, 403);
  const page = await get(`/?token=${token}`);
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-type']), /^text\/html/);
  assert.match(page.body, /<canvas id="screen"/);
  assert.doesNotMatch(page.body, /<script src|<link /, 'nothing fetched from elsewhere');
  // Its script at least compiles (web-browser.test.ts runs it in Chromium).
  new vm.Script(/<script>([^]*)<\/script>/.exec(page.body)![1]!);
  const csp = String(page.headers['content-security-policy']);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, new RegExp(`connect-src ws://127\\.0\\.0\\.1:${web.port}`));
  assert.equal((await get(`/other?token=${token}`)).status, 404);
  assert.equal((await get(`/?token=${token}`, 'POST')).status, 405);
});

test('WebSocket: 403 without the token, with another, or from a page of another origin', async () => {
  assert.equal(await new Browser('').refused(), 403);
  assert.equal(await new Browser(`token=${token}A`).refused(), 403);
  assert.equal(await new Browser(`token=${token}`, { origin: 'http://evil.example' }).refused(), 403);
  const ok = new Browser(`token=${token}`, { origin: `http://127.0.0.1:${web.port}` });
  await ok.opened();
  await ok.close();
});

test('connecting gets the full frame; a flush gets the rectangle it changed, as RGBA', async () => {
  const b = new Browser();
  await b.opened();
  const full = await b.next() as Buffer;
  assert.deepEqual([4, 6, 8, 10, 12, 14].map((at) => full.readUInt16LE(at)), [0, 0, 8, 4, 8, 4]);
  assert.deepEqual(full.subarray(PIXELS_HEADER_BYTES), expectedRgba({ x: 0, y: 0, width: 8, height: 4 }));
  // The guest paints pixel (3, 2) and flushes it.
  const frame = screen.frameNow!;
  frame.pixels.set([0x10, 0x20, 0x30, 0], (2 * 8 + 3) * 4);
  screen.damage({ x: 3, y: 2, width: 1, height: 1 });
  const rect = await b.next() as Buffer;
  assert.deepEqual([4, 6, 8, 10].map((at) => rect.readUInt16LE(at)), [3, 2, 1, 1]);
  assert.deepEqual([...rect.subarray(PIXELS_HEADER_BYTES)], [0x30, 0x20, 0x10, 255]);
  frame.pixels.set([3, 2, 7, 0], (2 * 8 + 3) * 4);
  await b.close();
});

test('keys reach the keyboard as Linux key codes; keys the console does not map are ignored', async () => {
  const b = await browser();
  sent[0]!.length = 0;
  b.send({ t: 'key', code: 'Volume', down: true });
  b.send({ t: 'key', code: 'KeyA', down: true });
  b.send({ t: 'key', code: 'KeyA', down: false });
  b.send({ t: 'key', code: 'Enter', down: true });
  b.send({ t: 'key', code: 'Enter', down: false });
  while (sent[0]!.length < 8) await new Promise((resolve) => setImmediate(resolve));
  const keys = sent[0]!.filter((e) => e.type === EV.KEY).map((e) => [e.code, e.value]);
  assert.deepEqual(keys, [[30, 1], [30, 0], [28, 1], [28, 0]]);
  await b.close();
});

test('the pointer: screen pixels scaled to the tablet\'s axes, buttons as MouseEvent.buttons, past the edge clamped', async () => {
  const b = await browser();
  sent[1]!.length = 0;
  b.send({ t: 'pointer', x: 7, y: 0, buttons: 0 });
  b.send({ t: 'pointer', x: 500, y: 3, buttons: 1 });
  while (sent[1]!.length < 7) await new Promise((resolve) => setImmediate(resolve));
  const pick = (code: number, type: number = EV.ABS): number[] => sent[1]!.filter((e) => e.type === type && e.code === code).map((e) => e.value);
  assert.deepEqual(pick(ABS_X), [TABLET_MAX, TABLET_MAX]);
  assert.deepEqual(pick(ABS_Y), [0, TABLET_MAX]);
  assert.deepEqual(pick(BTN_LEFT, EV.KEY), [1]);
  // Leaving lets go of the button it held.
  await b.close();
  while (sent[1]!.length < 11) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(pick(BTN_LEFT, EV.KEY), [1, 0]);
});

test('serial: output reaches the browsers, the last of it a browser that connects later; its text reaches the input', async () => {
  const b = await browser();
  machine.serialOutput(Buffer.from('login: '));
  const out = await b.next() as Buffer;
  assert.deepEqual([out[0], out.subarray(1).toString()], [2, 'login: ']);
  b.send({ t: 'serial', text: 'root\r' });
  while (serialIn.length === 0) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(Buffer.concat(serialIn).toString(), 'root\r');
  await b.close();
  const later = new Browser();
  await later.opened();
  const backlog = [await later.next(), await later.next()].find((m) => Buffer.isBuffer(m) && m[0] === 2) as Buffer;
  assert.equal(backlog.subarray(1).toString(), 'login: ');
  await later.close();
});

test('bad messages close the connection with a reason naming the field; unknown types are ignored', async () => {
  const cases: [unknown, number, RegExp][] = [
    ['{not json', 1007, /JSON/],
    [[1, 2], 1008, /object/],
    [{ t: 'key', code: 'KeyA' }, 1008, /"down"/],
    [{ t: 'key', code: 'a b', down: true }, 1008, /"code"/],
    [{ t: 'pointer', x: -1, y: 0, buttons: 0 }, 1008, /"x"/],
    [{ t: 'pointer', x: 0, y: 0.5, buttons: 0 }, 1008, /"y"/],
    [{ t: 'pointer', x: 0, y: 0, buttons: 8 }, 1008, /"buttons"/],
    [{ t: 'serial', text: 'x'.repeat(5000) }, 1008, /"text"/],
    [{ t: 7 }, 1008, /"t"/],
  ];
  for (const [message, code, reason] of cases) {
    const b = await browser();
    b.send(message);
    const closed = await b.closed;
    assert.equal(closed.code, code, JSON.stringify(message));
    assert.match(closed.reason, reason);
  }
  const binary = await browser();
  binary.ws.send(Buffer.from([1, 2, 3]));
  assert.equal((await binary.closed).code, 1003);
  const big = await browser();
  big.send({ t: 'serial', text: 'x'.repeat(MAX_PAYLOAD) });
  assert.equal((await big.closed).code, 1009);
  // An unknown type leaves the connection open: the key after it arrives.
  const b = await browser();
  sent[0]!.length = 0;
  b.send({ t: 'clipboard', text: 'x' });
  b.send({ t: 'key', code: 'KeyB', down: true });
  while (sent[0]!.length === 0) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(sent[0]![0], { type: EV.KEY, code: 48, value: 1 });
  await b.close();
});

test(`at most ${MAX_CLIENTS} browsers at once: one more is refused with 503`, async () => {
  await clients(0);
  const open = await Promise.all(Array.from({ length: MAX_CLIENTS }, () => browser()));
  await clients(MAX_CLIENTS);
  assert.equal(await new Browser().refused(), 503);
  await open[0]!.close();
  await clients(MAX_CLIENTS - 1);
  const again = await browser();
  await Promise.all([...open.slice(1), again].map((b) => b.close()));
});

test('close(): browsers are told (1001), nothing is served after', async () => {
  const other = await serveWebConsole({ screen: new FakeScreen(bgrxFrame(4, 4)), input: { key: () => {}, pointer: () => {} } },
    { token: 'fixed-token-for-the-test-000' });
  const b = new WebSocket(`ws://127.0.0.1:${other.port}/ws?token=fixed-token-for-the-test-000`);
  await new Promise((resolve) => b.once('message', resolve));
  const closed = new Promise<number>((resolve) => b.once('close', resolve));
  await other.close();
  assert.equal(await closed, 1001);
  await assert.rejects(new Promise((resolve, reject) => {
    http.get(`http://127.0.0.1:${other.port}/?token=fixed-token-for-the-test-000`, resolve).on('error', reject);
  }), { code: 'ECONNREFUSED' });
});

test('an address URL cannot parse is refused like one without the token, and the console stays up', async () => {
  const raw = (lines: string[]): Promise<string> => new Promise((resolve, reject) => {
    const s = net.connect(web.port, '127.0.0.1', () => { s.end(`${lines.join('\r\n')}\r\n\r\n`); });
    let text = '';
    s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    s.on('close', () => { resolve(text); });
    s.on('error', reject);
  });
  const plain = await raw(['GET http://[x HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close']);
  assert.match(plain, /^HTTP\/1\.1 (403|400) /);
  const upgrade = await raw(['GET http://[x HTTP/1.1', 'Host: 127.0.0.1', 'Connection: Upgrade', 'Upgrade: websocket',
    'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==']);
  assert.match(upgrade, /^HTTP\/1\.1 (403|400) /);
  assert.equal((await get(`/?token=${token}`)).status, 200);
});
