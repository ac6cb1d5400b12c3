// Sizes in a config: what the user wrote (a string with a unit, or a bare number in the field's unit) to bytes, and
// bytes back to the one string that says exactly as much, which is what GET /config shows and PUT /config takes.
import { ConfigError } from './config-check';
import { GiB, KiB, MiB, parseSize, SizeError, TiB, type SizeUnit } from './units';

/** A size the schema let through, in bytes; a bare number counts in `numberUnit`. */
export function sizeField(field: string, value: string | number, numberUnit: SizeUnit): number {
  try {
    return parseSize(value, { numberUnit });
  } catch (e) {
    if (e instanceof SizeError) throw new ConfigError(field, e.message);
    throw e;
  }
}

const EXACT_UNITS: [string, number][] = [['T', TiB], ['G', GiB], ['M', MiB], ['K', KiB]];

/** 268435456 -> "256M", 1536 -> "1536B": the largest unit that divides it, never rounded. */
export function exactSize(bytes: number): string {
  for (const [name, size] of EXACT_UNITS) {
    if (bytes > 0 && bytes % size === 0) return `${bytes / size}${name}`;
  }
  return `${bytes}B`;
}
