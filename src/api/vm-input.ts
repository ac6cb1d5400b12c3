// A machine's keyboard and pointer, as the Vm offers them: keys by name, text typed on a US layout, and a tablet
// pointer in screen pixels, all turned into the events sendInput takes (input-keys.ts, input-pointer.ts). Each
// call is all or nothing: it is sent only when the device's queue has room for every event of it, so a guest that
// stops reading never gets a key pressed without its release.
import { argRangeError, argTypeError, checkOptions, VmError } from './errors';
import { KEY_ACTIONS, keyCode, keyEvents, typeEvents, type KeyAction } from './input-keys';
import {
  buttonMask, checkScreen, pointerEvents, TABLET_UNITS, type PointerButtons, type ScreenSize,
} from './input-pointer';
import { checkDeviceIndex } from './vm-types';
import type { GpuDevice } from '../devices/gpu/device';
import type { InputEvent, InputKind } from '../devices/input';
import type { MachineConfig } from '../vmm/config';

export interface VmInputOptions {
  config: () => MachineConfig;
  /** Queues events on devices[device] (Vm.sendInput's path); how many were queued. */
  send: (device: number, events: readonly InputEvent[]) => number;
  /** How many more events devices[device] would queue now. */
  room: (device: number) => number;
  /** The machine's gpu, when it has one: its scanout 0 is the default screen. */
  gpu: () => GpuDevice | undefined;
  /** Throws VmError ERR_VM_STATE when the machine cannot take `operation` now. */
  check: (operation: string) => void;
}

export interface KeyOptions {
  /** 'tap' (the default) presses and releases; 'press' and 'release' send one half. */
  action?: KeyAction;
  /** Keys held around it (names or codes): pressed before it, released after it, last first. */
  modifiers?: readonly (string | number)[];
  /** The keyboard's index in the config's devices; default the first keyboard. */
  device?: number;
}

export interface TypeOptions {
  /** The keyboard's index in the config's devices; default the first keyboard. */
  device?: number;
}

export interface PointerOptions {
  /** The screen x and y are pixels of; default what display.screenshot(0) shows, else the tablet's own units. */
  width?: number;
  height?: number;
  /** The tablet's index in the config's devices; default the first tablet. */
  device?: number;
}

export class VmInput {
  /** The buttons each tablet was last told are down, by device index: a move sends only what changed. */
  private readonly held = new Map<number, number>();

  constructor(private readonly opts: VmInputOptions) {}

  /**
   * Presses and releases key `key` (a KEY_* code 1..248 or a name: 'a', '5', 'Enter', 'F1', 'LeftCtrl', 'SysRq',
   * ...; any case, never shifted) with `modifiers` held around it; `action` 'press' or 'release' sends one half.
   * Returns how many events were queued.
   */
  key(key: string | number, options?: KeyOptions): number {
    const o = checkOptions('options', options, ['action', 'modifiers', 'device']);
    const code = keyCode(key);
    const action = o.action === undefined ? 'tap' : keyAction(o.action);
    const mods = o.modifiers === undefined ? [] : modifierCodes(o.modifiers);
    return this.send('keyboard', o.device, 'send a key', keyEvents(code, action, mods));
  }

  /**
   * Types `text` as taps on a US keyboard: printable ASCII, '\n' (Enter), '\t' (Tab); at most MAX_TYPE_CHARS (512)
   * characters. A character it cannot type is a RangeError naming it and its index, and nothing is sent.
   */
  type(text: string, options?: TypeOptions): number {
    const o = checkOptions('options', options, ['device']);
    return this.send('keyboard', o.device, 'type text', typeEvents(text));
  }

  /**
   * Moves the tablet's pointer to pixel (x, y) of a `width` x `height` screen, scaled to the tablet's 0..32767 axes;
   * `buttons` (['left', ...] or a bitmask: 1 left, 2 right, 4 middle) are the buttons down from then on, left out
   * to keep them as they are. Only buttons that changed are sent, after the move, in one report.
   */
  pointer(x: number, y: number, buttons?: PointerButtons, options?: PointerOptions): number {
    const o = checkOptions('options', options, ['width', 'height', 'device']);
    const after = buttons === undefined ? undefined : buttonMask(buttons);
    const given = o.width !== undefined || o.height !== undefined;
    const screen = given ? checkScreen(o.width, o.height) : this.screen();
    const device = this.device('tablet', o.device);
    const before = this.held.get(device) ?? 0;
    const events = pointerEvents(x, y, screen, before, after ?? before);
    this.queue(device, 'move the pointer', events);
    this.held.set(device, after ?? before);
    return events.length;
  }

  /**
   * What display.screenshot(0) shows (the rectangle the guest set on scanout 0), else the gpu's configured mode, else
   * (no gpu) the tablet's own units, so x and y go to the axes unscaled.
   */
  private screen(): ScreenSize {
    const gpu = this.opts.config().devices.find((d) => d.type === 'gpu');
    if (gpu === undefined) return TABLET_UNITS;
    const frame = this.opts.gpu()?.scanoutFrame(0);
    if (frame === undefined || frame.width < 1 || frame.height < 1) return { width: gpu.width, height: gpu.height };
    return { width: frame.width, height: frame.height };
  }

  private send(kind: InputKind, chosen: unknown, operation: string, events: readonly InputEvent[]): number {
    this.queue(this.device(kind, chosen), operation, events);
    return events.length;
  }

  private queue(device: number, operation: string, events: readonly InputEvent[]): void {
    this.opts.check(operation);
    const room = this.opts.room(device);
    if (room < events.length) {
      throw new VmError('ERR_VM_INPUT_FULL', `cannot ${operation}: devices[${device}] has room for ${room} more events ` +
        `and this is ${events.length}; the guest has not read what was sent before, and nothing was sent`);
    }
    this.opts.send(device, events);
  }

  /** The device to send to: `chosen` when it is an input device of `kind`, else the config's first of that kind. */
  private device(kind: InputKind, chosen: unknown): number {
    const config = this.opts.config();
    const devices = config.devices;
    if (chosen !== undefined) {
      const index = checkDeviceIndex(config, chosen);
      const d = devices[index]!;
      const is = d.type === 'input' ? d.kind : d.type;
      if (is !== kind) throw new VmError('ERR_VM_NO_DEVICE', `devices[${index}] is a ${is}, not a ${kind}`);
      return index;
    }
    const index = devices.findIndex((d) => d.type === 'input' && d.kind === kind);
    if (index < 0) {
      throw new VmError('ERR_VM_NO_DEVICE', `this machine has no ${kind} (add {type: input, kind: ${kind}} to devices)`);
    }
    return index;
  }
}

function keyAction(action: unknown): KeyAction {
  if (!KEY_ACTIONS.includes(action as KeyAction)) throw argRangeError('action', `one of ${KEY_ACTIONS.join(', ')}`, action);
  return action as KeyAction;
}

function modifierCodes(modifiers: unknown): number[] {
  if (!Array.isArray(modifiers)) throw argTypeError('modifiers', 'an array of key names or codes', modifiers);
  return (modifiers as unknown[]).map((m, i) => keyCode(m, `modifiers[${i}]`));
}
