// PUT /logger changes the level of the VMM's log and of every logger made from it; GET /metrics on the socket.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { VmClient } from '../../src/api/client';
import { ApiController } from '../../src/api/controller';
import { ApiServer } from '../../src/api/server';
import { packageVersion } from '../../src/version';
import { failure } from '../helpers/api-failure';
import { checkExposition } from '../helpers/exposition';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-logger-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('PUT /logger: the root and its descendants, made before or after, take the new level', async () => {
  const lines: string[] = [];
  const root = pino({ level: 'info' }, { write: (s: string) => lines.push(s) });
  const controller = new ApiController({ logger: root, baseDir: dir });
  const component = root.child({ component: 'serial' });
  const grandchild = component.child({ queue: 0 }, { level: 'warn' });
  const sock = path.join(dir, 'a.sock');
  const server = await ApiServer.listen(sock, controller);
  const client = new VmClient(sock);
  try {
    assert.equal(await client.logLevel(), 'info');
    await client.setLogLevel('debug');
    assert.equal(await client.logLevel(), 'debug');
    const later = root.child({ component: 'vcpu0' });
    for (const l of [root, component, grandchild, later]) assert.equal(l.level, 'debug');
    grandchild.debug('seen');
    assert.equal(lines.length, 1);
    await client.setLogLevel('silent');
    component.error('not seen');
    assert.equal(lines.length, 1);
  } finally {
    await server.close();
  }
});

test('PUT /logger: a bad level is a 400 naming the field', async () => {
  const sock = path.join(dir, 'b.sock');
  const server = await ApiServer.listen(sock, new ApiController({ logger: pino({ level: 'silent' }), baseDir: dir }));
  const client = new VmClient(sock);
  try {
    const cases: [unknown, RegExp, string?][] = [
      [{ level: 'loud' }, /^level: "loud" is not one of trace, debug, info, warn, error, fatal, silent$/, 'level'],
      [{}, /^level: required \(one of trace, /, 'level'],
      [{ level: 'info', colour: true }, /^colour: unknown key/, 'colour'],
      [undefined, /^body: required/],
    ];
    for (const [body, message, field] of cases) {
      const e = await failure(client.request('PUT', '/logger', body));
      assert.equal(e.status, 400, JSON.stringify(body));
      assert.match(e.message, message);
      assert.equal(e.field, field);
    }
    assert.equal(await client.logLevel(), 'silent');
  } finally {
    await server.close();
  }
});

test('GET /metrics answers in the exposition format before there is a machine', async () => {
  const sock = path.join(dir, 'c.sock');
  const server = await ApiServer.listen(sock, new ApiController({ logger: pino({ level: 'silent' }), baseDir: dir }));
  try {
    const text = await new VmClient(sock).metrics();
    const samples = checkExposition(text);
    assert.deepEqual([...samples.keys()], [`tsvmm_info{version="${packageVersion()}",state="unconfigured"}`]);
    const head = await rawHead(sock, '/metrics');
    assert.match(head, /^content-type: text\/plain; version=0\.0\.4; charset=utf-8$/im);
  } finally {
    await server.close();
  }
});

function rawHead(sock: string, route: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath: sock, path: route }, (res) => {
      res.resume();
      resolve(Object.entries(res.headers).map(([k, v]) => `${k}: ${String(v)}`).join('\n'));
    }).on('error', reject);
  });
}
