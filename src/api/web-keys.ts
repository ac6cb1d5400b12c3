// The browser's key names (KeyboardEvent.code: the physical key, whatever the layout) as Linux key codes
// (include/uapi/linux/input-event-codes.h), for the browser console. The guest applies its own layout, as it would
// to a real keyboard's scan codes. Keys not here are ignored (and counted) by the console.

const CODES = new Map<string, number>([
  ['Escape', 1], ['Minus', 12], ['Equal', 13], ['Backspace', 14], ['Tab', 15], ['BracketLeft', 26],
  ['BracketRight', 27], ['Enter', 28], ['ControlLeft', 29], ['Semicolon', 39], ['Quote', 40], ['Backquote', 41],
  ['ShiftLeft', 42], ['Backslash', 43], ['Comma', 51], ['Period', 52], ['Slash', 53], ['ShiftRight', 54],
  ['NumpadMultiply', 55], ['AltLeft', 56], ['Space', 57], ['CapsLock', 58], ['NumLock', 69], ['ScrollLock', 70],
  ['Numpad7', 71], ['Numpad8', 72], ['Numpad9', 73], ['NumpadSubtract', 74], ['Numpad4', 75], ['Numpad5', 76],
  ['Numpad6', 77], ['NumpadAdd', 78], ['Numpad1', 79], ['Numpad2', 80], ['Numpad3', 81], ['Numpad0', 82],
  ['NumpadDecimal', 83], ['IntlBackslash', 86], ['F11', 87], ['F12', 88], ['NumpadEnter', 96], ['ControlRight', 97],
  ['NumpadDivide', 98], ['PrintScreen', 99], ['AltRight', 100], ['Home', 102], ['ArrowUp', 103], ['PageUp', 104],
  ['ArrowLeft', 105], ['ArrowRight', 106], ['End', 107], ['ArrowDown', 108], ['PageDown', 109], ['Insert', 110],
  ['Delete', 111], ['NumpadEqual', 117], ['Pause', 119], ['MetaLeft', 125], ['MetaRight', 126], ['ContextMenu', 127],
]);
// Digit1..Digit9 are KEY_1 (2) onward, Digit0 is KEY_0 (11); F1..F10 are KEY_F1 (59) onward.
for (let d = 1; d <= 9; d++) CODES.set(`Digit${d}`, 1 + d);
CODES.set('Digit0', 11);
for (let f = 1; f <= 10; f++) CODES.set(`F${f}`, 58 + f);
// The letters in the order of the keyboard's rows, each row's codes consecutive.
const LETTER_ROWS: readonly [string, number][] = [['QWERTYUIOP', 16], ['ASDFGHJKL', 30], ['ZXCVBNM', 44]];
for (const [letters, first] of LETTER_ROWS) {
  for (let i = 0; i < letters.length; i++) CODES.set(`Key${letters[i]!}`, first + i);
}

/** The Linux key code of the key KeyboardEvent.code `code` names, or undefined for a key the console does not map. */
export function domKeyCode(code: string): number | undefined {
  return CODES.get(code);
}
