// `tsvmm run --restore DIR`: the machine a snapshot folder holds runs instead of a config; a config file and the
// options that shape a machine are refused by name, the control socket and the log level go along.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { main } from '../../src/cli';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-run-restore-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
fs.writeFileSync(path.join(dir, 'vm.yaml'), 'kernel: vmlinux\n');

async function run(argv: string[]) {
  let err = '';
  const calls: { config: unknown; restore?: string; apiSocket?: string; logLevel?: string }[] = [];
  const status = await main(['run', ...argv], {
    cwd: dir,
    stderr: { write: (s: string) => { err += s; } },
    createLogger: () => pino({ level: 'silent' }),
    runMachine: async (config, o) => {
      calls.push({ config, ...(o.restore ? { restore: o.restore } : {}), ...(o.apiSocket ? { apiSocket: o.apiSocket } : {}),
        ...(o.logLevel ? { logLevel: o.logLevel } : {}) });
      return 0;
    },
  });
  return { status, err, calls };
}

test('--restore runs the snapshot\'s machine, with the control socket and log level it may take', async () => {
  const r = await run(['--restore', 'snaps/one', '--api-sock', 'vm.sock', '--log-level', 'debug']);
  assert.equal(r.status, 0, r.err);
  assert.deepEqual(r.calls, [{ config: undefined, restore: path.join(dir, 'snaps/one'),
    apiSocket: path.join(dir, 'vm.sock'), logLevel: 'debug' }]);
});

test('--restore refuses a config file and the options that shape a machine, naming them', async () => {
  const withFile = await run(['vm.yaml', '--restore', 'snaps/one']);
  assert.notEqual(withFile.status, 0);
  assert.match(withFile.err, /--restore: takes no config file \(vm\.yaml\)/);
  const withMemory = await run(['--restore', 'snaps/one', '--memory', '1G']);
  assert.match(withMemory.err, /--memory: does not go with --restore/);
  const withDisk = await run(['--restore', 'snaps/one', '--disk', 'path=a.img']);
  assert.match(withDisk.err, /--disk: does not go with --restore/);
  assert.equal(withMemory.calls.length + withDisk.calls.length + withFile.calls.length, 0);
});
