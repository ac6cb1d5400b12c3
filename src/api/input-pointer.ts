// The tablet's pointer for vm.input: pixel positions scaled to the tablet's absolute axes, and button states as the
// changes a tablet reports. Pure, so the scaling and the button edges can be checked without a machine.
import { argRangeError, argTypeError, checkInteger } from './errors';
import { ABS_X, ABS_Y, BTN_LEFT, BTN_MIDDLE, BTN_RIGHT, EV, SYN_REPORT, TABLET_MAX, type InputEvent } from '../devices/input';

export const POINTER_BUTTONS = ['left', 'right', 'middle'] as const;
export type PointerButton = (typeof POINTER_BUTTONS)[number];
/** A set of buttons held down, or a bitmask as the DOM's MouseEvent.buttons has it: 1 left, 2 right, 4 middle. */
export type PointerButtons = readonly PointerButton[] | number;
/** The bit and the button code of each button, in POINTER_BUTTONS order. */
const BUTTON_CODES = [BTN_LEFT, BTN_RIGHT, BTN_MIDDLE];
const ALL_BUTTONS = (1 << POINTER_BUTTONS.length) - 1;

export interface ScreenSize { width: number; height: number }
/** The widest screen a position may be given in: past the axis' 32768 steps pixels would share a position. */
export const MAX_SCREEN_SIDE = TABLET_MAX + 1;
/** Positions given in the tablet's own units: 0..TABLET_MAX on each axis, unscaled. */
export const TABLET_UNITS: ScreenSize = { width: MAX_SCREEN_SIDE, height: MAX_SCREEN_SIDE };

/** The bitmask `buttons` holds; TypeError / RangeError naming `name` for anything else. */
export function buttonMask(buttons: unknown, name = 'buttons'): number {
  if (typeof buttons === 'number') return checkInteger(name, buttons, 0, ALL_BUTTONS);
  if (!Array.isArray(buttons)) throw argTypeError(name, 'an array of "left", "right", "middle" or a bitmask 0..7', buttons);
  let mask = 0;
  (buttons as unknown[]).forEach((b, i) => {
    const bit = POINTER_BUTTONS.indexOf(b as PointerButton);
    if (bit < 0) throw argRangeError(`${name}[${i}]`, 'one of "left", "right", "middle"', b);
    mask |= 1 << bit;
  });
  return mask;
}

/** A screen size given by the caller: integers 1..MAX_SCREEN_SIDE. */
export function checkScreen(width: unknown, height: unknown): ScreenSize {
  return { width: checkInteger('width', width, 1, MAX_SCREEN_SIDE), height: checkInteger('height', height, 1, MAX_SCREEN_SIDE) };
}

/** Pixel `pixel` of `side` pixels on the 0..TABLET_MAX axis: the first pixel is 0, the last TABLET_MAX. */
export function scaleAxis(pixel: number, side: number): number {
  return side <= 1 ? 0 : Math.round((pixel * TABLET_MAX) / (side - 1));
}

/**
 * The tablet's report for a move to pixel (x, y) of `screen` with `after` held, `before` being what was held: both
 * axes, then a press or release for each button that changed (so a click lands where the pointer now is), then
 * SYN_REPORT. RangeError naming x or y for a position off the screen.
 */
export function pointerEvents(x: unknown, y: unknown, screen: ScreenSize, before: number, after: number): InputEvent[] {
  const px = checkInteger('x', x, 0, screen.width - 1);
  const py = checkInteger('y', y, 0, screen.height - 1);
  const out: InputEvent[] = [
    { type: EV.ABS, code: ABS_X, value: scaleAxis(px, screen.width) },
    { type: EV.ABS, code: ABS_Y, value: scaleAxis(py, screen.height) },
  ];
  BUTTON_CODES.forEach((code, bit) => {
    const was = (before >> bit) & 1;
    const now = (after >> bit) & 1;
    if (was !== now) out.push({ type: EV.KEY, code, value: now });
  });
  out.push({ type: EV.SYN, code: SYN_REPORT, value: 0 });
  return out;
}
