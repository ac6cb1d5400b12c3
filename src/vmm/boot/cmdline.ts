// The kernel command line: NUL-terminated bytes in guest memory, checked against the space the boot layout gives
// it and the longest line the kernel says it accepts.
import type { GuestMemory } from '../../base/guest-memory';
import { BootError } from './errors';
import { CMDLINE_ADDR, CMDLINE_MAX_BYTES } from './layout';

/** The bytes written for `cmdline`, NUL included; throws BootError when it cannot be passed. */
export function encodeCmdline(cmdline: string, kernelMax?: number): Uint8Array {
  if (cmdline.includes('\0')) throw new BootError('cmdline: contains a NUL character');
  const text = Buffer.from(cmdline, 'utf8');
  const limit = Math.min(CMDLINE_MAX_BYTES - 1, kernelMax ?? Infinity);
  if (text.length > limit) {
    const whose = kernelMax !== undefined && kernelMax < CMDLINE_MAX_BYTES - 1 ? 'the kernel accepts' : 'fit';
    throw new BootError(`cmdline: ${text.length} bytes is too long (at most ${limit} ${whose})`);
  }
  const bytes = new Uint8Array(text.length + 1);
  bytes.set(text);
  return bytes;
}

/** Writes the command line at its fixed address; returns the address and the length without the NUL. */
export function writeCmdline(mem: GuestMemory, cmdline: string, kernelMax?: number): { addr: number; length: number } {
  const bytes = encodeCmdline(cmdline, kernelMax);
  mem.fill(CMDLINE_ADDR, CMDLINE_MAX_BYTES, 0);
  mem.write(CMDLINE_ADDR, bytes);
  return { addr: CMDLINE_ADDR, length: bytes.length - 1 };
}

const KEY = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * Appends `key=value` (or a bare `key`). A value with spaces is quoted, which the kernel's parser undoes;
 * a value with a double quote cannot be expressed and is refused.
 */
export function appendCmdline(cmdline: string, key: string, value?: string | number): string {
  if (!KEY.test(key)) throw new BootError(`cmdline: ${JSON.stringify(key)} is not a parameter name`);
  let item = key;
  if (value !== undefined) {
    const text = String(value);
    if (text.includes('"') || /[\0\n]/.test(text)) {
      throw new BootError(`cmdline: value ${JSON.stringify(text)} of ${key} cannot be put on a kernel command line`);
    }
    item += '=' + (/\s/.test(text) || text === '' ? `"${text}"` : text);
  }
  const base = cmdline.trim();
  return base === '' ? item : `${base} ${item}`;
}

/**
 * The value of Linux's `virtio_mmio.device=` parameter for one device window: `<size>@<base>:<irq>`
 * (the size in KiB, which the kernel's memparse reads).
 */
export function virtioMmioDeviceParam(slot: { base: number; size: number; irq: number }): string {
  if (slot.size % 1024 !== 0 || slot.size <= 0) throw new RangeError(`virtio-mmio window size ${slot.size}`);
  return `${slot.size / 1024}K@0x${slot.base.toString(16)}:${slot.irq}`;
}
