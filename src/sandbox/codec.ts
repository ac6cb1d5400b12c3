// Frames and fields of the agent protocol, both directions. The decoder treats its input as hostile: a length
// over the limit, a field that runs past its frame, a number of the wrong width or too many fields is an
// AgentError with code PROTOCOL that names what was wrong, raised before any memory is set aside for it.
import { AgentError } from './errors';
import { frameTypeName, HEADER_SIZE, MAX_PAYLOAD, Tag } from './protocol';

export interface Frame {
  type: number;
  stream: number;
  payload: Buffer;
}

const U32_MAX = 0xffff_ffff;
/** Fields in one control frame; a list's entries are nested, one field each. */
export const MAX_FIELDS = 8192;

function checkU32(what: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) throw new RangeError(`${what}: ${value} is not a u32`);
}

/** One whole frame: header and payload. */
export function encodeFrame(type: number, stream: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  checkU32('stream id', stream);
  if (payload.length > MAX_PAYLOAD) {
    throw new RangeError(`${frameTypeName(type)} payload of ${payload.length} bytes is over the ${MAX_PAYLOAD}-byte limit`);
  }
  const out = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt8(type, 4);
  out.writeUInt32LE(stream, 5);
  out.set(payload, HEADER_SIZE);
  return out;
}

/** Splits a byte stream into frames; keeps a partial frame until the rest arrives. */
export class FrameDecoder {
  private parts: Buffer[] = [];
  private size = 0;
  private head: { type: number; stream: number; length: number } | undefined;

  constructor(private readonly maxPayload: number = MAX_PAYLOAD) {}

  /** Bytes held that do not make a whole frame yet. */
  get pending(): number {
    return this.size;
  }

  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.parts.push(chunk);
      this.size += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.head === undefined) {
        if (this.size < HEADER_SIZE) break;
        const h = this.take(HEADER_SIZE);
        const length = h.readUInt32LE(0);
        if (length > this.maxPayload) {
          throw new AgentError('PROTOCOL', `the agent sent a frame of ${length} bytes (type ${frameTypeName(h[4]!)}); ` +
            `the limit is ${this.maxPayload}`);
        }
        this.head = { type: h[4]!, stream: h.readUInt32LE(5), length };
      }
      if (this.size < this.head.length) break;
      frames.push({ type: this.head.type, stream: this.head.stream, payload: this.take(this.head.length) });
      this.head = undefined;
    }
    return frames;
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.parts[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.parts.shift();
      else this.parts[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        const p = this.parts[0]!;
        const use = Math.min(p.length, n - got);
        p.copy(out, got, 0, use);
        got += use;
        if (use === p.length) this.parts.shift();
        else this.parts[0] = p.subarray(use);
      }
    }
    this.size -= n;
    return out;
  }
}

/** Builds a control payload: u8 tag, u32 length, value; repeated. */
export class FieldWriter {
  private readonly parts: Buffer[] = [];
  private size = 0;

  get length(): number {
    return this.size;
  }

  bytes(tag: number, value: Uint8Array | string): this {
    const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    const head = Buffer.allocUnsafe(5);
    head.writeUInt8(tag, 0);
    head.writeUInt32LE(v.length, 1);
    this.parts.push(head, Buffer.from(v.buffer, v.byteOffset, v.length));
    this.size += 5 + v.length;
    return this;
  }

  u32(tag: number, value: number): this {
    checkU32(`field ${tagName(tag)}`, value);
    const v = Buffer.allocUnsafe(4);
    v.writeUInt32LE(value, 0);
    return this.bytes(tag, v);
  }

  u64(tag: number, value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`field ${tagName(tag)}: ${value} is not a u64`);
    const v = Buffer.allocUnsafe(8);
    v.writeBigUInt64LE(BigInt(value), 0);
    return this.bytes(tag, v);
  }

  flag(tag: number): this {
    return this.bytes(tag, Buffer.alloc(0));
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}

export function tagName(tag: number): string {
  for (const [name, value] of Object.entries(Tag)) if (value === tag) return name;
  return `tag ${tag}`;
}

/** A received control payload, parsed into its fields; every accessor checks the width it expects. */
export class Fields {
  private readonly map = new Map<number, Buffer[]>();

  private constructor(private readonly where: string) {}

  /** `where` names the frame in errors, e.g. `EXIT on stream 3`. */
  static parse(payload: Buffer, where: string, maxFields: number = MAX_FIELDS): Fields {
    const f = new Fields(where);
    let off = 0;
    let count = 0;
    while (off < payload.length) {
      if (payload.length - off < 5) throw f.error(`a field header is cut off at byte ${off}`);
      const tag = payload[off]!;
      const len = payload.readUInt32LE(off + 1);
      if (len > payload.length - off - 5) {
        throw f.error(`field ${tagName(tag)} claims ${len} bytes; only ${payload.length - off - 5} follow`);
      }
      if (++count > maxFields) throw f.error(`more than ${maxFields} fields`);
      const value = payload.subarray(off + 5, off + 5 + len);
      const list = f.map.get(tag);
      if (list) list.push(value);
      else f.map.set(tag, [value]);
      off += 5 + len;
    }
    return f;
  }

  error(why: string): AgentError {
    return new AgentError('PROTOCOL', `the agent's ${this.where} is malformed: ${why}`);
  }

  has(tag: number): boolean {
    return this.map.has(tag);
  }

  all(tag: number): Buffer[] {
    return this.map.get(tag) ?? [];
  }

  bytes(tag: number): Buffer | undefined {
    return this.map.get(tag)?.[0];
  }

  u32(tag: number): number | undefined {
    const v = this.bytes(tag);
    if (v === undefined) return undefined;
    if (v.length !== 4) throw this.error(`field ${tagName(tag)} is ${v.length} bytes, not 4`);
    return v.readUInt32LE(0);
  }

  u64(tag: number): number | undefined {
    const v = this.bytes(tag);
    if (v === undefined) return undefined;
    if (v.length !== 8) throw this.error(`field ${tagName(tag)} is ${v.length} bytes, not 8`);
    const big = v.readBigUInt64LE(0);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw this.error(`field ${tagName(tag)} is ${big}, past 2^53`);
    return Number(big);
  }

  /** Text, decoded as UTF-8, at most `maxBytes` long. */
  str(tag: number, maxBytes = 4096): string | undefined {
    const v = this.bytes(tag);
    if (v === undefined) return undefined;
    if (v.length > maxBytes) throw this.error(`field ${tagName(tag)} is ${v.length} bytes, over ${maxBytes}`);
    return v.toString('utf8');
  }

  requireU32(tag: number): number {
    const v = this.u32(tag);
    if (v === undefined) throw this.error(`field ${tagName(tag)} is missing`);
    return v;
  }

  requireU64(tag: number): number {
    const v = this.u64(tag);
    if (v === undefined) throw this.error(`field ${tagName(tag)} is missing`);
    return v;
  }
}
