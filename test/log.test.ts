import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { componentLogger, createLogger, formatLogLine } from '../src/log';

function capture(): { lines: string[]; destination: { write(s: string): void } } {
  const lines: string[] = [];
  return { lines, destination: { write: (s: string) => lines.push(s) } };
}

test('JSON lines at the chosen level, with component children', () => {
  const { lines, destination } = capture();
  const log = createLogger('info', { format: 'json', destination });
  log.debug('hidden');
  log.info({ vcpu: 0 }, 'started');
  componentLogger(log, 'serial').warn('slow sink');
  assert.equal(lines.length, 2);
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(first.level, 30);
  assert.equal(first.msg, 'started');
  assert.equal(first.vcpu, 0);
  const second = JSON.parse(lines[1]!) as Record<string, unknown>;
  assert.equal(second.component, 'serial');
  assert.equal(second.level, 40);
});

test('silent logs nothing; trace logs everything', () => {
  const quiet = capture();
  const silent = createLogger('silent', { format: 'json', destination: quiet.destination });
  silent.fatal('x');
  assert.equal(quiet.lines.length, 0);
  const loud = capture();
  createLogger('trace', { format: 'json', destination: loud.destination }).trace('y');
  assert.equal(loud.lines.length, 1);
});

test('pretty format: time, level, component, message and extra fields on one line', () => {
  const { lines, destination } = capture();
  const log = componentLogger(createLogger('debug', { format: 'pretty', destination }), 'vcpu0');
  log.debug({ exits: 12, reason: 'hlt loop' }, 'paused');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} DEBUG \[vcpu0\] paused exits=12 reason="hlt loop"\n$/);
  assert.equal(formatLogLine('not json'), 'not json\n');
});

test('the default destination is stderr, never stdout (the guest console)', () => {
  const modulePath = path.join(__dirname, '..', 'src', 'log.js');
  const r = spawnSync(process.execPath,
    ['-e', `require(${JSON.stringify(modulePath)}).createLogger('info').info('to stderr')`], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.equal(r.stdout, '');
  assert.equal((JSON.parse(r.stderr) as { msg: string }).msg, 'to stderr');
});

test('pretty format: an error\'s stack on lines of its own; JSON keeps it one string', () => {
  const pretty = capture();
  const err = new Error('boom');
  err.stack = 'Error: boom\n    at one (a.js:1:1)\n    at two (b.js:2:2)';
  createLogger('info', { format: 'pretty', destination: pretty.destination }).error({ err, route: 'PUT /x' }, 'failed');
  assert.equal(pretty.lines.length, 1);
  const [head, ...rest] = pretty.lines[0]!.split('\n');
  assert.match(head!, / ERROR failed route="PUT \/x"$/);
  assert.deepEqual(rest, ['  Error: boom', '      at one (a.js:1:1)', '      at two (b.js:2:2)', '']);
  const json = capture();
  createLogger('info', { format: 'json', destination: json.destination }).error({ err }, 'failed');
  assert.equal((JSON.parse(json.lines[0]!) as { err: { stack: string } }).err.stack, err.stack);
  assert.equal(json.lines[0]!.split('\n').length, 2); // one line and its newline
});
