import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import { attachTerminal, ESCAPE_HELP, EscapeDecoder } from '../../src/cli/terminal';

const bytes = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

test('escape decoder: plain bytes pass through', () => {
  const d = new EscapeDecoder();
  const r = d.feed(bytes('ls -l\r\x03'));
  assert.equal(text(r.data), 'ls -l\r\x03');
  assert.equal(r.exit, false);
  assert.equal(r.help, false);
});

test('escape decoder: Ctrl-A x exits and drops what follows', () => {
  const d = new EscapeDecoder();
  const r = d.feed(bytes('ab\x01xcd'));
  assert.equal(text(r.data), 'ab');
  assert.equal(r.exit, true);
  assert.deepEqual(d.feed(bytes('more')), { data: new Uint8Array(0), exit: false, help: false });
  assert.equal(new EscapeDecoder().feed(bytes('\x01X')).exit, true);
});

test('escape decoder: Ctrl-A Ctrl-A sends one Ctrl-A; an unknown key sends both', () => {
  const d = new EscapeDecoder();
  assert.equal(text(d.feed(bytes('a\x01\x01b')).data), 'a\x01b');
  assert.equal(text(d.feed(bytes('\x01q')).data), '\x01q');
  assert.equal(text(d.feed(bytes('\x01\x01\x01\x01')).data), '\x01\x01');
});

test('escape decoder: the key after Ctrl-A may arrive in the next chunk', () => {
  const d = new EscapeDecoder();
  const first = d.feed(bytes('z\x01'));
  assert.equal(text(first.data), 'z');
  assert.equal(first.exit, false);
  assert.equal(d.feed(bytes('x')).exit, true);
  const e = new EscapeDecoder();
  e.feed(bytes('\x01'));
  assert.equal(text(e.feed(bytes('\x01')).data), '\x01');
});

test('escape decoder: Ctrl-A h and Ctrl-A ? ask for help and send nothing', () => {
  const d = new EscapeDecoder();
  const r = d.feed(bytes('\x01h'));
  assert.deepEqual(r, { data: new Uint8Array(0), exit: false, help: true });
  assert.equal(d.feed(bytes('\x01?')).help, true);
});

class FakeTty extends EventEmitter {
  isTTY = true;
  isRaw = false;
  modes: boolean[] = [];
  paused = true;
  setRawMode(mode: boolean): this {
    this.isRaw = mode;
    this.modes.push(mode);
    return this;
  }
  resume(): this { this.paused = false; return this; }
  pause(): this { this.paused = true; return this; }
}

test('attachTerminal on a TTY: raw mode, escape handling, restore puts everything back', () => {
  const input = new FakeTty();
  const got: string[] = [];
  const printed: string[] = [];
  let escapes = 0;
  const exitListeners = process.listenerCount('exit');
  const t = attachTerminal({
    input, output: { write: (s: string) => printed.push(s) },
    onInput: (b) => got.push(text(b)), onEscape: () => escapes++,
  });
  assert.equal(t.raw, true);
  assert.deepEqual(input.modes, [true]);
  assert.equal(input.paused, false);
  assert.equal(process.listenerCount('exit'), exitListeners + 1, 'restores on process exit');
  input.emit('data', Buffer.from('hi\x01\x01'));
  input.emit('data', Buffer.from('\x01h'));
  assert.deepEqual(got, ['hi\x01']);
  assert.deepEqual(printed, [ESCAPE_HELP]);
  input.emit('data', Buffer.from('\x01x'));
  assert.equal(escapes, 1);
  t.restore();
  t.restore();
  assert.deepEqual(input.modes, [true, false], 'raw mode off once');
  assert.equal(input.paused, true);
  assert.equal(input.listenerCount('data'), 0);
  assert.equal(process.listenerCount('exit'), exitListeners);
});

test('attachTerminal without a TTY forwards every byte, Ctrl-A included, and touches no mode', () => {
  const input = new FakeTty();
  input.isTTY = false;
  const got: string[] = [];
  let escapes = 0;
  const t = attachTerminal({ input, onInput: (b) => got.push(text(b)), onEscape: () => escapes++ });
  assert.equal(t.raw, false);
  input.emit('data', Buffer.from('a\x01xb'));
  assert.deepEqual(got, ['a\x01xb']);
  assert.equal(escapes, 0);
  t.restore();
  assert.deepEqual(input.modes, []);
});

test('a fatal signal nobody else handles restores the terminal, then still ends the process', () => {
  const modulePath = path.join(__dirname, '..', '..', 'src', 'cli', 'terminal.js');
  const script = `
    const { EventEmitter } = require('node:events');
    const input = Object.assign(new EventEmitter(), {
      isTTY: true, isRaw: false, resume() {}, pause() {},
      setRawMode(m) { this.isRaw = m; process.stdout.write('raw=' + m + '\\n'); },
    });
    require(${JSON.stringify(modulePath)}).attachTerminal({ input, onInput() {}, onEscape() {} });
    setTimeout(() => process.kill(process.pid, 'SIGTERM'), 10);
    setTimeout(() => {}, 5000);
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.stdout, 'raw=true\nraw=false\n');
  assert.equal(r.signal, 'SIGTERM');
});
