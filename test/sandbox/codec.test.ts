// The agent protocol's codec: frames split anywhere, lengths over the limit refused before their bytes arrive,
// and control payloads whose fields run past the end, have the wrong width or are too many.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeFrame, Fields, FieldWriter, FrameDecoder, MAX_FIELDS } from '../../src/sandbox/codec';
import { AgentError } from '../../src/sandbox/errors';
import { FrameType, HEADER_SIZE, MAX_PAYLOAD, Tag } from '../../src/sandbox/protocol';

const protocolError = (pattern: RegExp) => (e: unknown): boolean =>
  e instanceof AgentError && e.code === 'PROTOCOL' && pattern.test(e.message);

describe('frames', () => {
  it('encode as u32 length, u8 type, u32 stream, payload (little-endian)', () => {
    const f = encodeFrame(FrameType.DATA_OUT, 0x01020304, Buffer.from('hi'));
    assert.deepEqual([...f], [2, 0, 0, 0, 0x31, 4, 3, 2, 1, 0x68, 0x69]);
    assert.equal(encodeFrame(FrameType.PING, 1).length, HEADER_SIZE);
    assert.throws(() => encodeFrame(1, 1, Buffer.alloc(MAX_PAYLOAD + 1)), /over the 1048576-byte limit/);
    assert.throws(() => encodeFrame(1, -1), /stream id: -1 is not a u32/);
  });

  it('decode the same whether they come whole, together, or a byte at a time', () => {
    const frames = [
      encodeFrame(FrameType.PONG, 1), encodeFrame(FrameType.DATA_OUT, 2, Buffer.alloc(70_000, 7)),
      encodeFrame(FrameType.EXIT, 3, new FieldWriter().u32(Tag.CODE, 0).finish()),
    ];
    const all = Buffer.concat(frames);
    const together = new FrameDecoder().push(all);
    assert.deepEqual(together.map((f) => [f.type, f.stream, f.payload.length]), [[0x04, 1, 0], [0x31, 2, 70_000], [0x12, 3, 9]]);
    const d = new FrameDecoder();
    const bytewise = [];
    for (let i = 0; i < all.length; i++) bytewise.push(...d.push(all.subarray(i, i + 1)));
    assert.deepEqual(bytewise, together);
    assert.equal(d.pending, 0);
    const odd = new FrameDecoder();
    const pieces = [all.subarray(0, 5), all.subarray(5, 20), all.subarray(20, 40_000), all.subarray(40_000)];
    assert.deepEqual(pieces.flatMap((p) => odd.push(p)), together);
  });

  it('keep a partial frame until the rest arrives', () => {
    const d = new FrameDecoder();
    const f = encodeFrame(FrameType.DATA_ERR, 9, Buffer.from('abcdef'));
    assert.deepEqual(d.push(f.subarray(0, 12)), []);
    assert.equal(d.pending, 3);
    assert.equal(d.push(f.subarray(12))[0]!.payload.toString(), 'abcdef');
  });

  it('refuse a length over the limit as soon as the header is in', () => {
    const header = Buffer.alloc(HEADER_SIZE);
    header.writeUInt32LE(MAX_PAYLOAD + 1, 0);
    header[4] = FrameType.DATA_OUT;
    assert.throws(() => new FrameDecoder().push(header), protocolError(/frame of 1048577 bytes \(type DATA_OUT\); the limit is 1048576/));
    const small = Buffer.alloc(HEADER_SIZE);
    small.writeUInt32LE(101, 0);
    assert.throws(() => new FrameDecoder(100).push(small), protocolError(/limit is 100/));
    assert.throws(() => new FrameDecoder().push(Buffer.alloc(HEADER_SIZE, 0xff)), protocolError(/4294967295 bytes/));
  });
});

describe('fields', () => {
  it('round-trip numbers, text, bytes, flags and repeats', () => {
    const p = new FieldWriter().u32(Tag.PID, 4242).u64(Tag.SIZE, 2 ** 40 + 3).bytes(Tag.PATH, 'ü ö')
      .bytes(Tag.ARG, 'a').bytes(Tag.ARG, '').flag(Tag.PTY).finish();
    const f = Fields.parse(p, 'test');
    assert.equal(f.u32(Tag.PID), 4242);
    assert.equal(f.u64(Tag.SIZE), 2 ** 40 + 3);
    assert.equal(f.str(Tag.PATH), 'ü ö');
    assert.deepEqual(f.all(Tag.ARG).map((b) => b.toString()), ['a', '']);
    assert.equal(f.has(Tag.PTY), true);
    assert.equal(f.has(Tag.GROUP), false);
    assert.equal(f.u32(Tag.CODE), undefined);
    assert.deepEqual(f.all(Tag.ENV), []);
  });

  it('refuse a field that runs past the payload, or a cut header', () => {
    const good = new FieldWriter().bytes(Tag.PATH, 'abc').finish();
    assert.throws(() => Fields.parse(good.subarray(0, good.length - 1), 'X'), protocolError(/X is malformed: field PATH claims 3 bytes; only 2 follow/));
    assert.throws(() => Fields.parse(good.subarray(0, 3), 'X'), protocolError(/field header is cut off at byte 0/));
    const huge = Buffer.from([Tag.PATH, 0xff, 0xff, 0xff, 0xff]);
    assert.throws(() => Fields.parse(huge, 'X'), protocolError(/claims 4294967295 bytes/));
  });

  it('check widths, ranges and counts', () => {
    const f = Fields.parse(new FieldWriter().bytes(Tag.CODE, Buffer.alloc(2)).bytes(Tag.SIZE, Buffer.alloc(8, 0xff))
      .bytes(Tag.NAME, 'x'.repeat(5000)).finish(), 'EXIT');
    assert.throws(() => f.u32(Tag.CODE), protocolError(/field CODE is 2 bytes, not 4/));
    assert.throws(() => f.u64(Tag.SIZE), protocolError(/past 2\^53/));
    assert.throws(() => f.str(Tag.NAME), protocolError(/5000 bytes, over 4096/));
    assert.throws(() => f.requireU32(Tag.PID), protocolError(/field PID is missing/));
    const many = new FieldWriter();
    for (let i = 0; i <= MAX_FIELDS; i++) many.flag(Tag.PTY);
    assert.throws(() => Fields.parse(many.finish(), 'X'), protocolError(new RegExp(`more than ${MAX_FIELDS} fields`)));
    assert.throws(() => new FieldWriter().u32(Tag.UID, 2 ** 32), /not a u32/);
    assert.throws(() => new FieldWriter().u64(Tag.SIZE, -1), /not a u64/);
  });
});
