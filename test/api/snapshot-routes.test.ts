// The control socket's snapshot routes without a machine: bodies checked field by field, a folder that holds no
// snapshot refused before anything is built, a snapshot asked of a socket with no machine a conflict.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { VmClient } from '../../src/api/client';
import { ApiController } from '../../src/api/controller';
import { ApiServer } from '../../src/api/server';
import { failure } from '../helpers/api-failure';

let dir: string;

before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-snapshot-routes-')); });
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('PUT /snapshot/create and /snapshot/load check their bodies and refuse what is no snapshot', async () => {
  const sock = path.join(dir, 'api.sock');
  const server = await ApiServer.listen(sock, new ApiController({ logger: pino({ level: 'silent' }), baseDir: dir }));
  const client = new VmClient(sock);
  try {
    const noVm = await failure(client.request('PUT', '/snapshot/create', { path: 'snap' }));
    assert.equal(noVm.status, 409);
    assert.equal(noVm.code, 'ERR_VM_STATE');
    const cases: [string, unknown, RegExp, string][] = [
      ['/snapshot/create', {}, /^path: required/, 'path'],
      ['/snapshot/create', { path: 'x', paused: true }, /paused/, 'paused'],
      ['/snapshot/load', { path: 'missing' }, /^path: directory not found/, 'path'],
      ['/snapshot/load', { path: '.', paused: 'yes' }, /^paused: must be a boolean/, 'paused'],
    ];
    for (const [route, body, message, field] of cases) {
      const e = await failure(client.request('PUT', route, body));
      assert.equal(e.status, 400, `${route} ${JSON.stringify(body)}: ${e.message}`);
      assert.match(e.message, message);
      assert.equal(e.field, field);
    }
    const notSnapshot = await failure(client.request('PUT', '/snapshot/load', { path: '.' }));
    assert.equal(notSnapshot.status, 400, notSnapshot.message);
    assert.equal(notSnapshot.code, 'ERR_VM_SNAPSHOT');
    assert.match(notSnapshot.message, /is not a snapshot/);
    assert.equal((await client.info()).state, 'unconfigured');
  } finally {
    await server.close();
  }
});
