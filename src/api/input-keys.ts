// Keys by name and text as key presses, for vm.input: pure translation to the events a virtio keyboard sends, so the
// tables can be checked without a machine. Codes are Linux's KEY_* numbers (include/uapi/linux/input-event-codes.h);
// text is typed as on a US keyboard, the layout a guest's console and X use unless told otherwise.
import { argRangeError, argTypeError } from './errors';
import { EV, KEY_FIRST, KEY_LAST, SYN_REPORT, type InputEvent } from '../devices/input';

export const KEY_LEFTSHIFT = 42;
/** type() takes at most this many characters: the most (each shifted: 8 events) an empty device queue holds. */
export const MAX_TYPE_CHARS = 512;
export const KEY_ACTIONS = ['press', 'release', 'tap'] as const;
export type KeyAction = (typeof KEY_ACTIONS)[number];

/** The US layout's rows: each character unshifted and shifted, with the key code of each position. */
const ROWS: readonly { plain: string; shifted: string; codes: readonly number[] }[] = [
  { plain: '`1234567890-=', shifted: '~!@#$%^&*()_+', codes: [41, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13] },
  { plain: 'qwertyuiop[]\\', shifted: 'QWERTYUIOP{}|', codes: [16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 43] },
  { plain: 'asdfghjkl;\'', shifted: 'ASDFGHJKL:"', codes: [30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40] },
  { plain: 'zxcvbnm,./', shifted: 'ZXCVBNM<>?', codes: [44, 45, 46, 47, 48, 49, 50, 51, 52, 53] },
];

/** The keys type() presses for each character it can type, and whether shift is held. */
const TYPEABLE = new Map<string, { code: number; shift: boolean }>([
  [' ', { code: 57, shift: false }], ['\n', { code: 28, shift: false }], ['\t', { code: 15, shift: false }],
]);
for (const row of ROWS) {
  row.codes.forEach((code, i) => {
    TYPEABLE.set(row.plain[i]!, { code, shift: false });
    TYPEABLE.set(row.shifted[i]!, { code, shift: true });
  });
}

/** Key names, lower case (lookup ignores case): the unshifted characters, then the named keys. */
const KEY_NAMES = new Map<string, number>();
for (const row of ROWS) row.codes.forEach((code, i) => KEY_NAMES.set(row.plain[i]!, code));
const NAMED: readonly [number, ...string[]][] = [
  [1, 'escape', 'esc'], [14, 'backspace'], [15, 'tab'], [28, 'enter', 'return'], [57, 'space'],
  [29, 'leftctrl', 'ctrl', 'control'], [97, 'rightctrl'], [KEY_LEFTSHIFT, 'leftshift', 'shift'], [54, 'rightshift'],
  [56, 'leftalt', 'alt'], [100, 'rightalt', 'altgr'], [125, 'leftmeta', 'meta', 'super'], [126, 'rightmeta'],
  [58, 'capslock'], [69, 'numlock'], [70, 'scrolllock'], [99, 'sysrq', 'printscreen'],
  [103, 'up', 'arrowup'], [108, 'down', 'arrowdown'], [105, 'left', 'arrowleft'], [106, 'right', 'arrowright'],
  [102, 'home'], [107, 'end'], [104, 'pageup'], [109, 'pagedown'], [110, 'insert'], [111, 'delete'],
  [87, 'f11'], [88, 'f12'],
];
for (const [code, ...names] of NAMED) for (const n of names) KEY_NAMES.set(n, code);
// F1..F10 are KEY_F1 (59) onward.
for (let f = 1; f <= 10; f++) KEY_NAMES.set(`f${f}`, 58 + f);

const NAME_HINT = 'a key name (a..z, 0..9, unshifted punctuation, Enter, Escape, Backspace, Tab, Space, Up, Down, ' +
  `Left, Right, F1..F12, LeftCtrl, LeftShift, LeftAlt, LeftMeta, SysRq, ...) or a key code ${KEY_FIRST}..${KEY_LAST}`;

/** The key code `key` names: a KEY_* number the keyboard has, or a name from the table (any case). */
export function keyCode(key: unknown, name = 'key'): number {
  if (typeof key === 'number') {
    if (!Number.isInteger(key) || key < KEY_FIRST || key > KEY_LAST) throw argRangeError(name, NAME_HINT, key);
    return key;
  }
  if (typeof key !== 'string') throw argTypeError(name, 'a key name or code', key);
  const code = KEY_NAMES.get(key.toLowerCase());
  if (code === undefined) throw argRangeError(name, NAME_HINT, key.length > 40 ? `${key.slice(0, 40)}...` : key);
  return code;
}

const syn = (): InputEvent => ({ type: EV.SYN, code: SYN_REPORT, value: 0 });
/** One key's press (1) or release (0), in its own report. */
const report = (code: number, value: 0 | 1): InputEvent[] => [{ type: EV.KEY, code, value }, syn()];

/**
 * The events for key `code` with `held` keys (modifiers) around it: a press presses the modifiers then the key, a
 * release lets go of the key then the modifiers (last first), a tap does both. Each change is its own report.
 */
export function keyEvents(code: number, action: KeyAction, held: readonly number[] = []): InputEvent[] {
  const out: InputEvent[] = [];
  if (action !== 'release') {
    for (const m of held) out.push(...report(m, 1));
    out.push(...report(code, 1));
  }
  if (action !== 'press') {
    out.push(...report(code, 0));
    for (const m of [...held].reverse()) out.push(...report(m, 0));
  }
  return out;
}

/**
 * The taps that type `text` on a US keyboard: printable ASCII, '\n' (Enter) and '\t' (Tab); upper case and shifted
 * symbols hold left shift around their key. Everything is checked before an event is made, so a text it cannot
 * type sends nothing: a RangeError names the first character it cannot type and its index.
 */
export function typeEvents(text: unknown): InputEvent[] {
  if (typeof text !== 'string') throw argTypeError('text', 'a string', text);
  if (text.length > MAX_TYPE_CHARS) {
    throw argRangeError('text', `at most ${MAX_TYPE_CHARS} characters long (send longer text in parts)`,
      `${text.length} characters`);
  }
  const keys: { code: number; shift: boolean }[] = [];
  for (let i = 0; i < text.length; i++) {
    const key = TYPEABLE.get(text[i]!);
    if (key === undefined) throw untypeable(text, i);
    keys.push(key);
  }
  return keys.flatMap((k) => keyEvents(k.code, 'tap', k.shift ? [KEY_LEFTSHIFT] : []));
}

function untypeable(text: string, index: number): RangeError {
  const point = text.codePointAt(index)!;
  const hex = point.toString(16).toUpperCase().padStart(4, '0');
  const range = 'printable ASCII, \\n or \\t (a US keyboard types nothing else)';
  return Object.assign(
    new RangeError(`The value of "text" is out of range: character ${index}, ${JSON.stringify(String.fromCodePoint(point))} ` +
      `(U+${hex}), cannot be typed; text must be ${range}`),
    { code: 'ERR_OUT_OF_RANGE', range, value: `character ${index} (U+${hex})`, argument: 'text' });
}
