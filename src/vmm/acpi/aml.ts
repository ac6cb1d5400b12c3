// A small AML encoder (ACPI 6.5, chapter 20): just the objects a microVM's DSDT declares (scopes, devices, named
// integers, strings, packages and resource templates, and a method whose only statement is a Notify). Every builder returns the encoded bytes, so a table reads
// like the ASL it stands for: device('COM1', name('_HID', eisaId('PNP0501')), ...).

export type Aml = Uint8Array;

const OP = {
  ZERO: 0x00,
  ONE: 0x01,
  NAME: 0x08,
  BYTE: 0x0a,
  WORD: 0x0b,
  DWORD: 0x0c,
  STRING: 0x0d,
  QWORD: 0x0e,
  SCOPE: 0x10,
  METHOD: 0x14,
  BUFFER: 0x11,
  PACKAGE: 0x12,
  EXT: 0x5b,
  DEVICE: 0x82,
  NOTIFY: 0x86,
  ROOT: 0x5c,
  DUAL_NAME: 0x2e,
  MULTI_NAME: 0x2f,
} as const;

/** A PkgLength's one-byte form holds lengths up to 63; the longest form (three extra bytes) 2^28 - 1. */
const PKG_LENGTH_MAX = 0x0fff_ffff;

export function concat(parts: readonly Aml[]): Aml {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The length that precedes a scope, device, package or buffer; it counts its own bytes too. */
export function pkgLength(bodyLength: number): Aml {
  for (let extra = 0; extra <= 3; extra++) {
    const total = bodyLength + 1 + extra;
    if (extra === 0 && total < 0x40) return Uint8Array.of(total);
    if (extra > 0 && total < 1 << (4 + 8 * extra)) {
      const out = new Uint8Array(1 + extra);
      out[0] = (extra << 6) | (total & 0x0f);
      for (let i = 1; i <= extra; i++) out[i] = (total >>> (4 + 8 * (i - 1))) & 0xff;
      return out;
    }
  }
  throw new RangeError(`AML package of ${bodyLength} bytes is longer than a PkgLength holds (${PKG_LENGTH_MAX})`);
}

function withLength(prefix: readonly number[], body: readonly Aml[]): Aml {
  const inner = concat(body);
  return concat([Uint8Array.from(prefix), pkgLength(inner.length), inner]);
}

const NAME_SEG = /^[A-Z_][A-Z0-9_]{0,3}$/;

function nameSeg(seg: string): Aml {
  if (!NAME_SEG.test(seg)) throw new RangeError(`${JSON.stringify(seg)} is not an ACPI name segment`);
  const padded = seg.padEnd(4, '_');
  return Uint8Array.from(padded, (c) => c.charCodeAt(0));
}

/** An absolute (`\_SB.COM1`) or relative (`_HID`) name; a DSDT this flat never needs parent prefixes (`^`). */
export function nameString(path: string): Aml {
  const root = path.startsWith('\\');
  const segs = (root ? path.slice(1) : path).split('.').filter((s) => s.length > 0);
  const prefix = root ? [OP.ROOT] : [];
  if (segs.length === 0) return Uint8Array.from(root ? [OP.ROOT, 0x00] : [0x00]);
  const encoded = segs.map(nameSeg);
  if (segs.length === 1) return concat([Uint8Array.from(prefix), encoded[0]!]);
  if (segs.length === 2) return concat([Uint8Array.from([...prefix, OP.DUAL_NAME]), ...encoded]);
  if (segs.length > 255) throw new RangeError(`ACPI name ${path} has too many segments`);
  return concat([Uint8Array.from([...prefix, OP.MULTI_NAME, segs.length]), ...encoded]);
}

/** The shortest encoding of an integer, as a compiler would choose it. */
export function integer(value: number | bigint): Aml {
  const v = BigInt(value);
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new RangeError(`${v} is not an AML integer`);
  if (v === 0n) return Uint8Array.of(OP.ZERO);
  if (v === 1n) return Uint8Array.of(OP.ONE);
  const [op, bytes] = v <= 0xffn ? [OP.BYTE, 1] : v <= 0xffffn ? [OP.WORD, 2] : v <= 0xffff_ffffn ? [OP.DWORD, 4]
    : [OP.QWORD, 8];
  const out = new Uint8Array(1 + bytes);
  out[0] = op;
  for (let i = 0; i < bytes; i++) out[1 + i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** An AML string holds ASCII 0x01..0x7F. */
export function string(s: string): Aml {
  // eslint-disable-next-line no-control-regex -- the range is AML's, control characters included
  if (!/^[\x01-\x7f]*$/.test(s)) throw new RangeError(`${JSON.stringify(s)} is not an AML string`);
  return concat([Uint8Array.of(OP.STRING), Uint8Array.from(s, (c) => c.charCodeAt(0)), Uint8Array.of(0)]);
}

/** A compressed EISA id ("PNP0501"): three letters of five bits each, then four hex digits, as a DWORD. */
export function eisaId(id: string): Aml {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new RangeError(`${JSON.stringify(id)} is not an EISA id`);
  const letter = (i: number): number => id.charCodeAt(i) - 0x40;
  const b0 = (letter(0) << 2) | (letter(1) >> 3);
  const b1 = ((letter(1) & 7) << 5) | letter(2);
  const b2 = parseInt(id.slice(3, 5), 16);
  const b3 = parseInt(id.slice(5, 7), 16);
  return Uint8Array.of(OP.DWORD, b0, b1, b2, b3);
}

export function name(path: string, value: Aml): Aml {
  return concat([Uint8Array.of(OP.NAME), nameString(path), value]);
}

export function scope(path: string, ...terms: Aml[]): Aml {
  return withLength([OP.SCOPE], [nameString(path), ...terms]);
}

export function device(path: string, ...terms: Aml[]): Aml {
  return withLength([OP.EXT, OP.DEVICE], [nameString(path), ...terms]);
}

export function pkg(...elements: Aml[]): Aml {
  if (elements.length > 255) throw new RangeError('an AML package holds at most 255 elements');
  return withLength([OP.PACKAGE], [Uint8Array.of(elements.length), ...elements]);
}

export function buffer(bytes: Uint8Array): Aml {
  return withLength([OP.BUFFER], [integer(bytes.length), bytes]);
}

/** ASL's Method (name, args, NotSerialized) { terms }: no locking, since its terms touch no shared state. */
export function method(path: string, argCount: number, ...terms: Aml[]): Aml {
  if (!Number.isInteger(argCount) || argCount < 0 || argCount > 7) throw new RangeError(`a method takes 0..7 arguments, not ${argCount}`);
  return withLength([OP.METHOD], [nameString(path), Uint8Array.of(argCount), ...terms]);
}

/** ASL's Notify (object, value): tells the OS driver of `path` about event `value` (0x80: a button was pressed). */
export function notify(path: string, value: number): Aml {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new RangeError(`notify value ${value} is not a byte`);
  return concat([Uint8Array.of(OP.NOTIFY), nameString(path), integer(value)]);
}
