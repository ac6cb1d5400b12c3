// The control socket without a machine: routing, validation, the socket file's life, clients that misbehave.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { VmClient } from '../../src/api/client';
import { ApiController } from '../../src/api/controller';
import { VmError } from '../../src/api/errors';
import { ApiServer } from '../../src/api/server';
import { checkStopOptions, type Vm } from '../../src/api/vm';
import { validateConfig } from '../../src/vmm/config';
import { failure } from '../helpers/api-failure';
import { REPO } from '../helpers/cli-run';

let dir: string;
let kernel: string;
const logger = pino({ level: 'silent' });

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-api-'));
  kernel = path.join(dir, 'vmlinux');
  fs.writeFileSync(kernel, 'not run by these tests');
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function serve(name: string): Promise<{ server: ApiServer; client: VmClient; sock: string }> {
  const sock = path.join(dir, name);
  const server = await ApiServer.listen(sock, new ApiController({ logger, baseDir: dir }));
  return { server, client: new VmClient(sock), sock };
}

test('routing and validation: 404, 405 with Allow, 409 before start, 400 naming the field, 413', async () => {
  const { server, client } = await serve('a.sock');
  try {
    const { version } = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    assert.deepEqual(await client.info(), { name: 'tsvmm', version, state: 'unconfigured' });
    assert.equal((await failure(client.request('GET', '/nope'))).status, 404);
    const wrong = await failure(client.request('DELETE', '/config'));
    assert.equal(wrong.status, 405);
    assert.match(wrong.message, /allowed: GET, PUT/);
    for (const p of [client.pause(), client.stop(), client.counters(), client.waitForExit(), client.getConfig(),
      client.setBalloonTarget(1), client.start()]) {
      assert.equal((await failure(p)).status, 409);
    }
    const cases: [string, string, unknown, RegExp, string?][] = [
      ['PUT', '/config', { kernel, memroy: 64 }, /^memroy: unknown key \(did you mean memory\?\)$/, 'memroy'],
      ['PUT', '/config', { kernel, vcpus: 0 }, /^vcpus: 0 is out of range/, 'vcpus'],
      ['PUT', '/config', { memory: 64 }, /^kernel: required/, 'kernel'],
      ['PUT', '/config', [1], /mapping/],
      ['PUT', '/actions', { action: 'explode' }, /^action: "explode" is not one of start, pause/, 'action'],
      ['PUT', '/actions', { action: 'pause', timeoutMs: 5 }, /^timeoutMs: only used with action stop$/, 'timeoutMs'],
      ['PUT', '/actions', { action: 'stop', timeoutMs: -1 }, /^timeoutMs: -1 is out of range/, 'timeoutMs'],
      ['PUT', '/actions', {}, /^action: required/, 'action'],
      ['PUT', '/actions', undefined, /^body: required/],
      ['PUT', '/actions', 'start', /^body: must be a JSON object$/],
      ['PUT', '/balloon', { targetMiB: '1' }, /^targetMiB: "1" is not an integer$/, 'targetMiB'],
    ];
    for (const [method, route, body, message, field] of cases) {
      const e = await failure(client.request(method, route, body));
      assert.equal(e.status, 400, `${route} ${JSON.stringify(body)}: ${e.message}`);
      assert.match(e.message, message);
      assert.equal(e.field, field);
    }
    const notJson = await rawRequest(client.socketPath, 'PUT /config HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{nope');
    assert.match(notJson, /^HTTP\/1.1 400 .*body: not JSON/s);
    const big = JSON.stringify({ cmdline: 'x'.repeat(1024 * 1024) });
    assert.equal((await failure(client.request('PUT', '/config', JSON.parse(big)))).status, 413);
  } finally {
    await server.close();
  }
});

test('PUT /config takes the YAML schema, resolves paths from the server\'s folder, and can be replaced', async () => {
  const { server, client } = await serve('b.sock');
  try {
    await client.putConfig({ kernel: 'vmlinux', memory: 64 });
    let c = await client.getConfig();
    assert.equal(c.kernel, kernel);
    assert.equal(c.memory, '64M', 'a size with its unit: a bare number would count MiB');
    assert.equal((await client.info()).state, 'configured');
    await client.putConfig({ kernel, memory: '128M', vcpus: 2 });
    c = await client.getConfig();
    assert.deepEqual([c.memory, c.vcpus], ['128M', 2]);
    const e = await failure(client.putConfig({ kernel, apiSocket: 'x.sock' }));
    assert.equal(e.field, 'apiSocket');
    const nowhere = await failure(client.putConfig({ kernel, apiSocket: path.join(dir, 'no', 'such', 'dir', 'x.sock') }));
    assert.match(nowhere.message, /^apiSocket: leave it out/, 'refused for being there, before it is checked as a path');
    assert.equal((await failure(client.swapDisk(0, 'disk.img'))).status, 404, 'the config has no devices');
  } finally {
    await server.close();
  }
});

/** Sends raw bytes and resolves with everything the server answers before it closes (or 300 ms pass). */
function rawRequest(sock: string, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(sock, () => s.write(text));
    let got = '';
    s.on('data', (d) => { got += d.toString(); });
    const done = (): void => { s.destroy(); resolve(got); };
    s.on('end', done);
    setTimeout(done, 300);
  });
}

test('a client that disconnects mid-request changes nothing, and the server goes on', async () => {
  const { server, client, sock } = await serve('c.sock');
  try {
    const body = JSON.stringify({ kernel, memory: 64 });
    await new Promise<void>((resolve) => {
      const s = net.connect(sock, () => {
        s.write(`PUT /config HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
        s.write(body.slice(0, 10), () => setTimeout(() => { s.destroy(); resolve(); }, 50));
      });
    });
    assert.equal((await client.info()).state, 'unconfigured', 'half a config is no config');
    await client.putConfig({ kernel, memory: 64 });
    assert.equal((await client.info()).state, 'configured');
  } finally {
    await server.close();
  }
});

test('one server per socket: a live one is refused, a stale file replaced, a regular file left alone', async () => {
  const { server, sock } = await serve('d.sock');
  assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
  await assert.rejects(ApiServer.listen(sock, new ApiController({ logger, baseDir: dir }), { field: '--api-sock' }),
    { name: 'ConfigError', message: `--api-sock: ${sock} is in use by a running server` });
  await server.close();
  assert.equal(fs.existsSync(sock), false, 'the socket file goes with the server');

  const stale = path.join(dir, 'stale.sock');
  const killed = spawnSync(process.execPath, ['-e',
    `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  assert.equal(killed.signal, 'SIGKILL');
  assert.ok(fs.lstatSync(stale).isSocket(), 'a dead server left its socket file');
  const second = await ApiServer.listen(stale, new ApiController({ logger, baseDir: dir }));
  assert.equal((await new VmClient(stale).info()).state, 'unconfigured');
  await second.close();

  const file = path.join(dir, 'plain-file');
  fs.writeFileSync(file, 'keep me');
  await assert.rejects(ApiServer.listen(file, new ApiController({ logger, baseDir: dir })), /exists and is not a socket/);
  assert.equal(fs.readFileSync(file, 'utf8'), 'keep me');
});

test('the socket file is private from the moment it is bound, whatever the umask, which is restored after', async () => {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be called with apply() and put back
  const listen = net.Server.prototype.listen;
  let modeAtBind: number | undefined;
  // bind() happens inside listen(): the file's mode right after it is what another user could have met.
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
    const server = listen.apply(this, args as never);
    if (typeof args[0] === 'string') modeAtBind = fs.statSync(args[0]).mode & 0o777;
    return server;
  } as typeof listen;
  const old = process.umask(0);
  let served: Awaited<ReturnType<typeof serve>> | undefined;
  try {
    served = await serve('e.sock');
    assert.equal(modeAtBind, 0o600);
    assert.equal(fs.statSync(served.sock).mode & 0o777, 0o600);
    assert.equal(process.umask(0), 0, 'the process umask is as it was');
  } finally {
    process.umask(old);
    net.Server.prototype.listen = listen;
    await served?.server.close();
  }
});

test('GET /config answers what PUT /config takes: sent back, it sets the same config', async () => {
  const { server, client } = await serve('f.sock');
  try {
    fs.writeFileSync(path.join(dir, 'disk.img'), Buffer.alloc(4096));
    fs.mkdirSync(path.join(dir, 'share'), { recursive: true });
    await client.putConfig({
      kernel: 'vmlinux', memory: 32 + 4 / 1024, vcpus: 3, serial: { mode: 'file', path: 'serial.log' },
      devices: [
        { type: 'blk', path: 'new.img', create: true, size: 3 }, { type: 'blk', path: 'disk.img', readonly: true },
        { type: 'console', backend: 'socket', path: 'hvc.sock' }, { type: 'vsock', cid: 5, socket: 'v.sock' },
        { type: 'balloon', targetMiB: 4 }, { type: 'fs', tag: 'share', path: 'share' }, { type: 'rng' },
      ],
    });
    const first = await client.getConfig();
    assert.equal(first.memory, '32772K');
    assert.deepEqual(first.devices![0], { type: 'blk', path: path.join(dir, 'new.img'), readonly: false,
      cache: 'writeback', create: true, size: '3M' });
    await client.putConfig(first);
    assert.deepEqual(await client.getConfig(), first);
  } finally {
    await server.close();
  }
});

test('error bodies carry the code the same error has in the process', async () => {
  const { server, client } = await serve('g.sock');
  const controller = new ApiController({ logger, baseDir: dir });
  const inProcess = (call: () => unknown): unknown => {
    try {
      call();
    } catch (e) {
      return (e as { code?: unknown }).code;
    }
    assert.fail('expected the call to throw');
  };
  try {
    const cases: [unknown, Promise<unknown>][] = [
      [inProcess(() => controller.getConfig()), client.getConfig()],
      [inProcess(() => controller.requireVm('pause')), client.pause()],
      [inProcess(() => controller.setConfig({ kernel, vcpus: 0 })), client.request('PUT', '/config', { kernel, vcpus: 0 })],
      [inProcess(() => checkStopOptions({ timeoutMs: -1 })), client.stop({ timeoutMs: -1 })],
      [inProcess(() => checkStopOptions({ timeoutMs: '5' })), client.request('PUT', '/actions', { action: 'stop', timeoutMs: '5' })],
    ];
    const expected = ['ERR_VM_STATE', 'ERR_VM_STATE', 'ERR_CONFIG', 'ERR_OUT_OF_RANGE', 'ERR_INVALID_ARG_TYPE'];
    assert.deepEqual(cases.map(([code]) => code), expected);
    for (const [code, request] of cases) assert.equal((await failure(request)).code, code);
  } finally {
    await server.close();
  }
});

test('a machine\'s own errors reach the client with their code (a stand-in machine without a balloon)', async () => {
  const noBalloon = (): never => { throw new VmError('ERR_VM_NO_DEVICE', 'this machine has no balloon device'); };
  const config = validateConfig({ kernel }, { baseDir: dir });
  const vm = { state: 'running', config, balloonStats: noBalloon, setBalloonTarget: noBalloon } as unknown as Vm;
  const sock = path.join(dir, 'h.sock');
  const server = await ApiServer.listen(sock, new ApiController({ logger, baseDir: dir, vm }));
  try {
    const client = new VmClient(sock);
    for (const request of [client.balloonStats(), client.setBalloonTarget(1)]) {
      const e = await failure(request);
      assert.deepEqual([e.status, e.code, e.message], [409, 'ERR_VM_NO_DEVICE', 'this machine has no balloon device']);
    }
    assert.equal((await client.getConfig()).memory, '256M');
  } finally {
    await server.close();
  }
});
