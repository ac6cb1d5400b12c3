// What a browser console page may send the host: JSON text messages, each an object with a type `t`. A message of
// a type this does not know is ignored (a newer page may send more); a known type with a field that is wrong is
// refused with a reason naming the field, and the console closes that connection (WebSocket 1008), since only a
// page that is not ours sends one.
//
//   {"t":"key","code":"KeyA","down":true}        a key (KeyboardEvent.code) pressed or released
//   {"t":"pointer","x":10,"y":20,"buttons":1}   the pointer at pixel (x, y) of the screen; buttons as MouseEvent.buttons
//   {"t":"serial","text":"ls\r"}                text for the serial console, as typed (UTF-8)

/** Longest KeyboardEvent.code taken ('NumpadMultiply' is 14). */
export const MAX_KEY_CODE_CHARS = 32;
/** Longest text one serial message may carry. */
export const MAX_SERIAL_TEXT = 4096;
/** Pointer positions are screen pixels; the widest screen a gpu has is below this. */
export const MAX_POSITION = 0xffff;

export type ClientMessage =
  | { t: 'key'; code: string; down: boolean }
  | { t: 'pointer'; x: number; y: number; buttons: number }
  | { t: 'serial'; text: string };

/** A message refused: the WebSocket close code and the reason (at most 123 bytes, as a close frame holds). */
export class BadMessage extends Error {
  constructor(readonly closeCode: number, reason: string) {
    super(reason.length > 120 ? `${reason.slice(0, 117)}...` : reason);
  }
}

const bad = (field: string, want: string): BadMessage => new BadMessage(1008, `"${field}" must be ${want}`);

function integer(m: Record<string, unknown>, field: string, max: number): number {
  const v = m[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw bad(field, `an integer 0..${max}`);
  return v;
}

function string(m: Record<string, unknown>, field: string, max: number, pattern?: RegExp): string {
  const v = m[field];
  if (typeof v !== 'string' || v.length > max || (pattern !== undefined && !pattern.test(v))) {
    throw bad(field, `a string of at most ${max} characters${pattern ? ` matching ${String(pattern)}` : ''}`);
  }
  return v;
}

/**
 * The message `text` holds; undefined for a type this does not know. Throws BadMessage for text that is not a JSON
 * object with a string `t`, or a known type with a field that is wrong.
 */
export function parseClientMessage(text: string): ClientMessage | undefined {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    throw new BadMessage(1007, 'a message must be JSON');
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new BadMessage(1008, 'a message must be a JSON object');
  const o = m as Record<string, unknown>;
  if (typeof o.t !== 'string') throw bad('t', 'a string');
  switch (o.t) {
    case 'key': {
      const code = string(o, 'code', MAX_KEY_CODE_CHARS, /^[A-Za-z0-9]+$/);
      if (typeof o.down !== 'boolean') throw bad('down', 'true or false');
      return { t: 'key', code, down: o.down };
    }
    case 'pointer':
      return { t: 'pointer', x: integer(o, 'x', MAX_POSITION), y: integer(o, 'y', MAX_POSITION), buttons: integer(o, 'buttons', 7) };
    case 'serial':
      return { t: 'serial', text: string(o, 'text', MAX_SERIAL_TEXT) };
    default:
      return undefined;
  }
}
