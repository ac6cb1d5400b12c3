// The errors the programmatic API throws besides ConfigError (a config object's field): bad arguments are
// TypeError / RangeError naming the argument or option, with Node's own codes, and whatever the machine cannot do
// (now, here, or with this kernel) is a VmError with a code saying which.

export type VmErrorCode =
  /** The machine is in the wrong state for this (pause before start, anything after it ended). */
  | 'ERR_VM_STATE'
  /** The machine has no device of the kind this needs (a balloon, a gpu), or the device named is of another kind. */
  | 'ERR_VM_NO_DEVICE'
  /** KVM cannot be used here: no /dev/kvm, no access to it, or a kernel without what tsvmm needs. */
  | 'ERR_VM_KVM'
  /** The kernel, initrd or command line cannot be booted as given; the message names the field. */
  | 'ERR_VM_BOOT'
  /**
   * A disk swap failed: the new file cannot be opened, another device has it, or the device has no file to swap.
   * The message names the device; `cause.code` is the errno (ENOENT, EACCES, EBUSY, EINVAL, ...).
   */
  | 'ERR_VM_DISK'
  /**
   * Running commands or moving files needs the guest agent, reached through a vsock device: the machine has none
   * (add one, and boot a guest that runs tsvmm-agent; createSandbox() does both).
   */
  | 'ERR_VM_NO_AGENT'
  /**
   * A screenshot of a scanout that shows nothing: the guest's driver has set no resource on it yet (or disabled
   * it, or was reset).
   */
  | 'ERR_VM_NO_DISPLAY'
  /**
   * vm.input's keys, text or pointer report do not fit the keyboard's or tablet's queue now (the guest has not read
   * what was sent before); nothing of it was sent, so no key is left half pressed.
   */
  | 'ERR_VM_INPUT_FULL'
  /** A snapshot of this machine cannot hold one of its devices yet (the message names it): virtio devices. */
  | 'ERR_VM_SNAPSHOT_UNSUPPORTED'
  /**
   * A snapshot cannot be written or restored: not a snapshot, another format version, a checksum that does not
   * match, a file cut short, a config that does not fit its memory, a host that cannot take its CPU state. The
   * message says which; `cause.code` is the SnapshotError's (ERR_SNAPSHOT_CHECKSUM, ...) or the errno.
   */
  | 'ERR_VM_SNAPSHOT';

export class VmError extends Error {
  constructor(readonly code: VmErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VmError';
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '...' : value)}`;
  if (typeof value === 'object' || typeof value === 'function') return `a ${typeof value}`;
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- objects and functions returned above
  return `${typeof value} ${String(value)}`;
}

/** Both carry the `argument` they are about, so the control socket can name it as the body field. */
export function argTypeError(name: string, expected: string, got: unknown): TypeError {
  return Object.assign(new TypeError(`The "${name}" argument must be ${expected}, got ${describe(got)}`),
    { code: 'ERR_INVALID_ARG_TYPE', argument: name });
}

/** Carries `range` and `value` too, so the control socket can say the same about its body field. */
export function argRangeError(name: string, range: string, got: unknown): RangeError {
  return Object.assign(new RangeError(`The value of "${name}" is out of range: it must be ${range}, got ${String(got)}`),
    { code: 'ERR_OUT_OF_RANGE', range, value: got, argument: name });
}

/** An options object: undefined is {}, anything but a plain object is a TypeError, an unknown key too. */
export function checkOptions(name: string, value: unknown, known: readonly string[]): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw argTypeError(name, 'an object', value);
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw Object.assign(new TypeError(`The "${name}" argument has an unknown option "${key}" (known: ${known.join(', ')})`),
        { code: 'ERR_INVALID_ARG_VALUE' });
    }
  }
  return value as Record<string, unknown>;
}

export function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') throw argTypeError(name, 'an integer', value);
  if (!Number.isInteger(value) || value < min || value > max) throw argRangeError(name, `an integer >= ${min} and <= ${max}`, value);
  return value;
}

export function checkNonEmptyString(name: string, value: unknown): string {
  if (typeof value !== 'string') throw argTypeError(name, 'a string', value);
  if (value === '' || value.includes('\0')) {
    throw Object.assign(new TypeError(`The "${name}" argument must be a non-empty string without NUL characters`),
      { code: 'ERR_INVALID_ARG_VALUE' });
  }
  return value;
}
