// The translation under vm.input, without a machine: key names to Linux key codes, text to US-layout taps, pixel
// positions to the tablet's axes and button sets to the presses and releases that changed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keyCode, keyEvents, MAX_TYPE_CHARS, typeEvents } from '../../src/api/input-keys';
import { buttonMask, checkScreen, pointerEvents, scaleAxis, TABLET_UNITS } from '../../src/api/input-pointer';
import { ABS_X, ABS_Y, BTN_LEFT, BTN_MIDDLE, BTN_RIGHT, EV, MAX_PENDING_EVENTS, TABLET_MAX } from '../../src/devices/input';

const SYN = [EV.SYN, 0, 0];
const key = (code: number, value: number): number[] => [EV.KEY, code, value];
const flat = (events: { type: number; code: number; value: number }[]): number[][] =>
  events.map((e) => [e.type, e.code, e.value]);

test('key names: letters, digits, punctuation and named keys are Linux\'s codes, in any case', () => {
  const expected: [string, number][] = [
    ['a', 30], ['A', 30], ['q', 16], ['m', 50], ['z', 44], ['1', 2], ['9', 10], ['0', 11], ['-', 12], ['=', 13],
    ['[', 26], [']', 27], ['\\', 43], [';', 39], ['\'', 40], ['`', 41], [',', 51], ['.', 52], ['/', 53],
    ['Enter', 28], ['return', 28], ['Escape', 1], ['Esc', 1], ['Backspace', 14], ['Tab', 15], ['Space', 57],
    ['Up', 103], ['ArrowDown', 108], ['Left', 105], ['RIGHT', 106], ['Home', 102], ['End', 107], ['PageUp', 104],
    ['PageDown', 109], ['Insert', 110], ['Delete', 111], ['CapsLock', 58],
    ['F1', 59], ['F5', 63], ['F10', 68], ['F11', 87], ['F12', 88],
    ['LeftCtrl', 29], ['Ctrl', 29], ['RightCtrl', 97], ['LeftShift', 42], ['Shift', 42], ['RightShift', 54],
    ['LeftAlt', 56], ['Alt', 56], ['RightAlt', 100], ['LeftMeta', 125], ['Super', 125], ['RightMeta', 126],
    ['SysRq', 99], ['PrintScreen', 99],
  ];
  for (const [name, code] of expected) assert.equal(keyCode(name), code, name);
  assert.equal(keyCode(1), 1);
  assert.equal(keyCode(248), 248);
});

test('key names and codes it does not know are refused, naming the argument', () => {
  for (const bad of ['F13', '!', 'A1', '', 'Enter ', 0, 249, 1.5, -1]) {
    assert.throws(() => keyCode(bad), (e: Error & { code?: string; argument?: string }) =>
      e instanceof RangeError && e.code === 'ERR_OUT_OF_RANGE' && e.argument === 'key', String(bad));
  }
  assert.throws(() => keyCode(null), { code: 'ERR_INVALID_ARG_TYPE', argument: 'key' });
  assert.throws(() => keyCode('x'.repeat(1000), 'modifiers[0]'),
    (e: Error & { argument?: string }) => e.argument === 'modifiers[0]' && e.message.length < 500);
});

test('a tap is press + SYN then release + SYN; modifiers wrap it, released last first', () => {
  assert.deepEqual(flat(keyEvents(30, 'tap')), [key(30, 1), SYN, key(30, 0), SYN]);
  assert.deepEqual(flat(keyEvents(30, 'press')), [key(30, 1), SYN]);
  assert.deepEqual(flat(keyEvents(30, 'release')), [key(30, 0), SYN]);
  assert.deepEqual(flat(keyEvents(99, 'tap', [56, 29])), [
    key(56, 1), SYN, key(29, 1), SYN, key(99, 1), SYN, key(99, 0), SYN, key(29, 0), SYN, key(56, 0), SYN,
  ]);
  assert.deepEqual(flat(keyEvents(20, 'press', [29])), [key(29, 1), SYN, key(20, 1), SYN]);
  assert.deepEqual(flat(keyEvents(20, 'release', [29])), [key(20, 0), SYN, key(29, 0), SYN]);
});

test('type(\'Hi!\\n\'): shift around H and !, Enter for the newline', () => {
  const shifted = (code: number): number[][] =>
    [key(42, 1), SYN, key(code, 1), SYN, key(code, 0), SYN, key(42, 0), SYN];
  const plain = (code: number): number[][] => [key(code, 1), SYN, key(code, 0), SYN];
  assert.deepEqual(flat(typeEvents('Hi!\n')), [...shifted(35), ...plain(23), ...shifted(2), ...plain(28)]);
  assert.deepEqual(flat(typeEvents(' \t')), [...plain(57), ...plain(15)]);
  assert.deepEqual(flat(typeEvents('~_+{}|:"<>?')).filter((e) => e[1] === 42).length, 22);
  assert.deepEqual(typeEvents(''), []);
});

test('every printable ASCII character types, as one key with or without shift', () => {
  for (let c = 0x20; c < 0x7f; c++) {
    const events = typeEvents(String.fromCharCode(c));
    assert.ok(events.length === 4 || events.length === 8, String.fromCharCode(c));
  }
});

test('text it cannot type is refused before any event: the character and its index; too long is refused too', () => {
  for (const [text, index, hex] of [['abc\u00e9', 3, 'U+00E9'], ['\r', 0, 'U+000D'], ['ok\u0000', 2, 'U+0000'],
    ['x\u{1F600}', 1, 'U+1F600'], ['a\x7f', 1, 'U+007F']] as const) {
    assert.throws(() => typeEvents(text), (e: Error & { code?: string; argument?: string }) =>
      e instanceof RangeError && e.code === 'ERR_OUT_OF_RANGE' && e.argument === 'text'
      && e.message.includes(`character ${index}`) && e.message.includes(hex), JSON.stringify(text));
  }
  assert.equal(typeEvents('A'.repeat(MAX_TYPE_CHARS)).length, MAX_PENDING_EVENTS, 'the longest text fills an empty queue');
  assert.throws(() => typeEvents('a'.repeat(MAX_TYPE_CHARS + 1)), /at most 512 characters/);
  assert.throws(() => typeEvents(42), { code: 'ERR_INVALID_ARG_TYPE', argument: 'text' });
});

test('pointer scaling: the first pixel is 0, the last TABLET_MAX, the middle half way; tablet units are unscaled', () => {
  assert.equal(scaleAxis(0, 1024), 0);
  assert.equal(scaleAxis(1023, 1024), TABLET_MAX);
  assert.equal(scaleAxis(512, 1025), Math.round(TABLET_MAX / 2));
  assert.equal(scaleAxis(0, 1), 0);
  for (const v of [0, 1, 100, TABLET_MAX]) assert.equal(scaleAxis(v, TABLET_UNITS.width), v);
  const screen = { width: 640, height: 480 };
  assert.deepEqual(flat(pointerEvents(639, 0, screen, 0, 0)), [[EV.ABS, ABS_X, TABLET_MAX], [EV.ABS, ABS_Y, 0], SYN]);
  assert.deepEqual(flat(pointerEvents(0, 479, screen, 0, 0)), [[EV.ABS, ABS_X, 0], [EV.ABS, ABS_Y, TABLET_MAX], SYN]);
});

test('pointer positions off the screen and bad screens are refused, naming x, y, width or height', () => {
  const screen = { width: 640, height: 480 };
  for (const [x, y, arg] of [[640, 0, 'x'], [-1, 0, 'x'], [0, 480, 'y'], [1.5, 0, 'x'], [0, Number.NaN, 'y']] as const) {
    assert.throws(() => pointerEvents(x, y, screen, 0, 0), { argument: arg }, `${x}, ${y}`);
  }
  assert.throws(() => pointerEvents('1', 0, screen, 0, 0), { code: 'ERR_INVALID_ARG_TYPE', argument: 'x' });
  assert.deepEqual(checkScreen(1, 32768), { width: 1, height: 32768 });
  assert.throws(() => checkScreen(0, 10), { argument: 'width' });
  assert.throws(() => checkScreen(10, 32769), { argument: 'height' });
});

test('buttons: a set or a bitmask; a move sends only the buttons that changed, after the axes', () => {
  assert.equal(buttonMask([]), 0);
  assert.equal(buttonMask(['left']), 1);
  assert.equal(buttonMask(['middle', 'right', 'right']), 6);
  assert.equal(buttonMask(7), 7);
  assert.throws(() => buttonMask(8), { argument: 'buttons' });
  assert.throws(() => buttonMask(['left', 'back']), { argument: 'buttons[1]' });
  assert.throws(() => buttonMask('left'), { code: 'ERR_INVALID_ARG_TYPE', argument: 'buttons' });
  const screen = { width: 2, height: 2 };
  const axes = [[EV.ABS, ABS_X, 0], [EV.ABS, ABS_Y, TABLET_MAX]];
  assert.deepEqual(flat(pointerEvents(0, 1, screen, 0, 1)), [...axes, key(BTN_LEFT, 1), SYN]);
  assert.deepEqual(flat(pointerEvents(0, 1, screen, 1, 1)), [...axes, SYN]);
  assert.deepEqual(flat(pointerEvents(0, 1, screen, 1, 6)), [
    ...axes, key(BTN_LEFT, 0), key(BTN_RIGHT, 1), key(BTN_MIDDLE, 1), SYN,
  ]);
  assert.deepEqual(flat(pointerEvents(0, 1, screen, 6, 0)), [...axes, key(BTN_RIGHT, 0), key(BTN_MIDDLE, 0), SYN]);
});
