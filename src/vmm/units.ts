// Byte sizes as people write them in configs and on the command line. Every unit is binary (K = KiB = KB = 1024):
// that is what a VMM user means by "512M" of guest RAM, and QEMU and Firecracker read them the same way.

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

export type SizeUnit = 'B' | 'K' | 'M' | 'G' | 'T';

const UNIT_BYTES: Record<SizeUnit, number> = { B: 1, K: KiB, M: MiB, G: GiB, T: TiB };

/** Thrown by parseSize; `value` is what was given, for the caller's own error message. */
export class SizeError extends Error {
  constructor(readonly value: unknown, message: string) {
    super(message);
    this.name = 'SizeError';
  }
}

export interface ParseSizeOptions {
  /** What a bare number (or a string with no unit) counts in. Default 'B' (bytes). */
  numberUnit?: SizeUnit;
}

// 512, 512M, 512 MiB, 1.5G, 64kb: a decimal number, optional blank, then B or K/M/G/T with optional "i" and "B".
const SIZE_PATTERN = /^([0-9]+(?:\.[0-9]+)?)\s*(?:([kmgt])(?:i?b)?|(b))?$/i;

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/**
 * Parses a size into a whole number of bytes. Accepts a non-negative number (counted in `numberUnit`) or a string
 * such as "512M", "2GiB", "64 KiB", "4096B", "1.5G". Throws SizeError naming the value.
 */
export function parseSize(value: string | number, opts: ParseSizeOptions = {}): number {
  const numberUnit = opts.numberUnit ?? 'B';
  let amount: number;
  let unit: SizeUnit;
  if (typeof value === 'number') {
    amount = value;
    unit = numberUnit;
  } else if (typeof value === 'string') {
    const m = SIZE_PATTERN.exec(value.trim());
    if (!m) throw new SizeError(value, `${describe(value)} is not a size (use e.g. 512M, 2GiB)`);
    amount = Number(m[1]);
    unit = m[3] ? 'B' : m[2] ? (m[2].toUpperCase() as SizeUnit) : numberUnit;
  } else {
    throw new SizeError(value, `${describe(value)} is not a size (use e.g. 512M, 2GiB)`);
  }
  if (!Number.isFinite(amount) || amount < 0) {
    throw new SizeError(value, `${describe(value)} is not a size (use e.g. 512M, 2GiB)`);
  }
  const bytes = amount * UNIT_BYTES[unit];
  if (!Number.isSafeInteger(bytes)) {
    const why = Number.isInteger(bytes) ? 'is too large' : 'is not a whole number of bytes';
    throw new SizeError(value, `${describe(value)} ${why}`);
  }
  return bytes;
}

/** 536870912 -> "512 MiB", 1536 -> "1.5 KiB", 100 -> "100 B". At most two decimals, trailing zeros dropped. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return `${bytes} B`;
  const sign = bytes < 0 ? '-' : '';
  const abs = Math.abs(bytes);
  const units: [string, number][] = [['TiB', TiB], ['GiB', GiB], ['MiB', MiB], ['KiB', KiB]];
  for (const [name, size] of units) {
    if (abs >= size) return `${sign}${trimDecimals(abs / size)} ${name}`;
  }
  return `${sign}${abs} B`;
}

function trimDecimals(n: number): string {
  return n.toFixed(2).replace(/\.?0+$/, '');
}
