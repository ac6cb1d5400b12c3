// Configs a careless user or a hostile file could hand tsvmm: each must be refused quickly, in one line naming the
// field and the value, with exit status 2, and never take the host's time or memory while it is read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../src/cli';
import { ConfigError, readConfigFile, validateConfig } from '../../src/vmm/config';
import { BIN } from '../helpers/cli-run';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-hostile-'));
fs.writeFileSync(path.join(dir, 'vmlinux'), 'kernel');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

function configError(fn: () => unknown, field: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `not a ConfigError: ${String(e)}`);
    assert.equal(e.field, field);
    assert.match(e.message, message);
    assert.ok(!e.message.includes('\n'), e.message);
    return true;
  });
}

/** `tsvmm run <args>` as a child, so that a read that never ends fails the test instead of hanging it. */
function runCli(args: string[]): { status: number | null; stderr: string; ms: number } {
  const started = Date.now();
  const r = spawnSync(process.execPath, [BIN, 'run', ...args], {
    cwd: dir, encoding: 'utf8', timeout: 20_000, env: { ...process.env, TSVMM_NO_BUNDLE: '1' },
  });
  return { status: r.status, stderr: r.stderr, ms: Date.now() - started };
}

test('40,000 unknown keys are refused in time linear in the file, not quadratic', () => {
  const file = path.join(dir, 'many.yaml');
  const keys = Array.from({ length: 40_000 }, (_, i) => `k${i}: 1\n`);
  fs.writeFileSync(file, `kernel: ./vmlinux\n${keys.join('')}`);
  const started = performance.now();
  configError(() => validateConfig(readConfigFile(file), { baseDir: dir }), 'k0', /^k0: unknown key/);
  const ms = performance.now() - started;
  // Linear is about a second on a busy machine; the quadratic duplicate-key check took 13 s on an idle one.
  assert.ok(ms < 6000, `${ms.toFixed(0)} ms`);

  fs.writeFileSync(file, `kernel: ./vmlinux\n${keys.join('')}k7: 2\n`);
  configError(() => readConfigFile(file), '', /many\.yaml:40002:1: Map keys must be unique \("k7" is given twice\)$/);
});

test('only a regular file of bounded size is a config: /dev/zero and a FIFO fail at once', () => {
  const fifo = path.join(dir, 'config.fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  for (const [file, kind] of [['/dev/zero', 'a character device'], ['/dev/urandom', 'a character device'],
    [fifo, 'a FIFO']] as const) {
    const r = runCli([file]);
    assert.equal(r.status, 2, `${file}: ${r.stderr}`);
    assert.equal(r.stderr, `tsvmm: config ${file}: is ${kind}, not a regular file\n`);
  }
  const big = path.join(dir, 'big.yaml');
  fs.writeFileSync(big, `kernel: ./vmlinux\ncmdline: "${'a'.repeat(1024 * 1024)}"\n`);
  configError(() => readConfigFile(big), '', /big\.yaml: larger than 1048576 bytes/);
});

test('cmdline is capped at the boot protocol\'s command-line area, and the error says the limit', () => {
  const started = performance.now();
  configError(() => validateConfig({ kernel: './vmlinux', cmdline: 'a'.repeat(50 * 1024 * 1024) }, { baseDir: dir }),
    'cmdline', /^cmdline: 52428800 bytes is too long \(at most 65535 bytes fit/);
  assert.ok(performance.now() - started < 1000);
  configError(() => validateConfig({ kernel: './vmlinux', cmdline: 'é'.repeat(32768) }, { baseDir: dir }),
    'cmdline', /^cmdline: 65536 bytes is too long/);
  assert.equal(validateConfig({ kernel: './vmlinux', cmdline: 'a'.repeat(65535) }, { baseDir: dir }).cmdline.length,
    65535);
});

test('a YAML alias bomb is a config error (status 2) naming the key that holds it', async () => {
  const file = path.join(dir, 'bomb.yaml');
  const level = (name: string, of: string): string => `${name}: &${name} [${Array(9).fill(of).join(', ')}]\n`;
  fs.writeFileSync(file, 'kernel: ./vmlinux\n' + level('a', '"lol"') + level('b', '*a') + level('c', '*b') +
    'cmdline: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n');
  configError(() => readConfigFile(file), 'cmdline', /^cmdline: aliases expand too far .*an alias bomb.* in .*bomb\.yaml$/);
  const err: string[] = [];
  const status = await main(['run', file], { cwd: dir, stderr: { write: (s: string) => err.push(s) } });
  assert.equal(status, 2);
  assert.match(err.join(''), /^tsvmm: cmdline: aliases expand too far/);
});

test('an empty key is refused naming it, at the root and inside a device', () => {
  for (const [cfg, field] of [[{ kernel: '@guest/vmlinux', '': 1 }, '""'], [{ kernel: '@guest/vmlinux', devices: [{ type: 'rng', '': 1 }] }, 'devices[0].""']] as const) {
    assert.throws(() => validateConfig(cfg), (e: unknown) => e instanceof ConfigError && e.field === field
      && e.message.startsWith(`${field}: unknown key`), JSON.stringify(cfg));
  }
});
