// `tsvmm run` checks the host before it builds or opens anything: a host without KVM is one line and status 1.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { main } from '../../src/cli';
import { BIN, REPO } from '../helpers/cli-run';
import { fakeHost } from '../helpers/fake-host';
import { kvmUnavailable } from '../helpers/kvm';

test('run: a host without KVM fails before the runner is called, status 1, one line', async () => {
  const err: string[] = [];
  let ran = 0;
  const deps = {
    stderr: { write: (s: string) => err.push(s) },
    createLogger: () => pino({ level: 'silent' }),
    runMachine: async () => { ran++; return 0; },
    hostProbe: fakeHost({ devices: { '/dev/kvm': 'ENOENT' }, modules: [] }),
  };
  assert.equal(await main(['run', '--kernel', __filename], deps), 1);
  assert.equal(await main(['run', '--api-sock', path.join(__dirname, 'x.sock')], deps), 1);
  assert.equal(ran, 0);
  assert.equal(err.length, 2);
  assert.match(err[0]!, /^tsvmm: \/dev\/kvm does not exist: this host has no KVM; .*\n$/);
  // A config mistake is still reported as one (status 2), before the host is looked at.
  assert.equal(await main(['run', '--kernel', 'no-such-file'], deps), 2);
});

test('npm start on a host without KVM: status 1 at once, nothing built', (t) => {
  if (kvmUnavailable() === undefined) {
    t.skip('this host has KVM');
    return;
  }
  const started = Date.now();
  const r = spawnSync(process.execPath, [BIN, 'run', path.join(REPO, 'configs', 'default.yaml')],
    { encoding: 'utf8', env: { ...process.env, TSVMM_CACHE: path.join(__dirname, 'no-cache-here') } });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^tsvmm: \/dev\/kvm [^\n]*\n$/);
  // Generous for a loaded machine; a build would take minutes and print [guest] lines.
  assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
});
