// The control socket against requests a confused or hostile client might send: every method on every route and on
// paths that only look like routes, bodies that are not JSON, JSON of the wrong shape, wrong lengths. Every answer
// is well-formed (a JSON body with an `error` string for every 4xx), never a 5xx, and the server keeps serving.
// No case starts a machine: `start` is never sent, so nothing here needs KVM.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { ApiController } from '../../src/api/controller';
import { ApiServer } from '../../src/api/server';
import { forAll, plan } from './property';
import type { Rand } from './prng';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-fuzz-api-'));
const sock = path.join(dir, 'api.sock');
let server: ApiServer;
before(async () => {
  fs.writeFileSync(path.join(dir, 'vmlinux'), 'not run');
  server = await ApiServer.listen(sock, new ApiController({ logger: pino({ level: 'silent' }), baseDir: dir }));
});
after(async () => {
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const PATHS = ['/', '/config', '/actions', '/exit', '/counters', '/balloon', '/devices/0', '/devices/7', '/devices/-1',
  '/devices/x', '//config', '/config/', '/config?x=1', '/./config', '/%63onfig', '/devices/0/../config', '/\u00e9',
  '/' + 'a'.repeat(5000), '/devices/99999999999999999999', '*', 'config', '/counters#x'];
/** The paths a route serves (a query or fragment is not part of the path). */
const SERVED = new Set(PATHS.slice(0, 7));
const ACTIONS = ['pause', 'resume', 'stop', 'ctrl-alt-del', 'power-button', 'START', '', 'start '];

function body(r: Rand): string | Buffer | undefined {
  switch (r.int(7)) {
    case 0: return undefined;
    case 1: return r.bytes(r.int(64));
    case 2: return JSON.stringify({ action: r.pick(ACTIONS) });
    case 3: return JSON.stringify({ kernel: r.pick(['vmlinux', '/dev/zero', '']), memory: r.pick([64, -1, '1G', null]), vcpus: r.edgy() });
    case 4: return JSON.stringify(r.pick([{ targetMiB: r.edgy() }, { targetMiB: -1 }, { rateLimit: r.edgy() }, [], null, 1, '"x"']));
    case 5: return '{"a":' + '['.repeat(r.int(5000)) + ']'.repeat(r.int(5000)) + '}';
    default: return JSON.stringify({ ['__proto__']: { polluted: true }, constructor: 1, kernel: 'vmlinux' });
  }
}

interface Answer { status: number; text: string; type: string | undefined }

function send(method: string, target: string, payload: string | Buffer | undefined, r: Rand): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (payload !== undefined && r.chance(0.9)) headers['content-type'] = r.pick(['application/json', 'text/plain']);
    const req = http.request({ socketPath: sock, method, path: target, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(parts).toString(), type: res.headers['content-type'] }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

async function oneCase(r: Rand): Promise<void> {
  const method = r.pick(['GET', 'PUT', 'PATCH', 'POST', 'DELETE', 'OPTIONS', 'HEAD']);
  const target = r.pick(PATHS);
  const payload = body(r);
  if (typeof payload === 'string' && /"start"/.test(payload)) return;
  const sent = `${method} ${target.slice(0, 40)} with ${payload === undefined ? 'no body' : String(payload).slice(0, 60)}`;
  const a = await send(method, target, payload, r).catch((e: unknown) => {
    throw new Error(`${sent}: ${(e as Error).message}`, { cause: e });
  });
  const what = `${sent} -> ${a.status} ${a.text.slice(0, 200)}`;
  assert.ok(a.status >= 200 && a.status < 500, what);
  if (method === 'HEAD' || a.status === 204) return;
  if (a.status >= 400 || a.text !== '') {
    assert.equal(a.type, 'application/json', what);
    const parsed = JSON.parse(a.text) as { error?: unknown };
    if (a.status >= 400) assert.equal(typeof parsed.error, 'string', what);
  }
  if (!SERVED.has(target.replace(/[?#].*/, '')) && a.status < 300) assert.fail(`an unknown path was served: ${what}`);
  if (Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')) assert.fail('Object.prototype was polluted');
}

test('control socket: every request is answered with well-formed JSON and a 2xx or 4xx status', async () => {
  await forAll('api', plan(600, 0xa91), oneCase);
  const alive = await send('GET', '/', undefined, new (await import('./prng')).Rand(0));
  assert.equal(alive.status, 200);
});
