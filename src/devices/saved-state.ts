// Reading a device's own snapshot state back (VirtioDevice.restoreState). It comes from a file, so every field is
// checked, and a wrong one is a RangeError that names it; the snapshot code puts the device's section in front.
export type Saved = Record<string, unknown>;

/** The value as an object to read fields from: anything else reads as {}, so each field then fails by its name. */
export function savedObject(v: unknown): Saved {
  return (typeof v === 'object' && v !== null ? v : {}) as Saved;
}

/** An integer from min to max, or RangeError "<name> is <value>, not <min>..<max>". */
export function savedInt(name: string, v: unknown, min: number, max: number): number {
  if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) {
    throw new RangeError(`${name} is ${JSON.stringify(v)}, not ${min}..${max}`);
  }
  return v as number;
}

/**
 * Descriptor heads a device held (taken again with Virtqueue.reclaim once the device is activated): at most `max`,
 * each a 16-bit index, none twice.
 */
export function savedHeads(name: string, v: unknown, max: number): number[] {
  const ok = Array.isArray(v) && v.length <= max && new Set(v).size === v.length
    && v.every((h) => Number.isInteger(h) && (h as number) >= 0 && (h as number) < 0x10000);
  if (!ok) throw new RangeError(`${name} is not a list of at most ${max} distinct descriptor heads`);
  return v as number[];
}
