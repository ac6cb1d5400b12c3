// The control queue: what the info requests describe, how their start, count and size are checked, SET_PARAMS's
// checks, and the stream lifecycle with every command in every state.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FORMAT, RATE } from '../../../src/devices/snd/formats';
import { CHMAP_POS, REQ, STATUS } from '../../../src/devices/snd/protocol';
import { setup } from './harness';

test('config space: 2 jacks, 2 streams, 2 channel maps; device type 25 with four queues', () => {
  const s = setup();
  assert.deepEqual([...s.dev.configSpace()], [2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0]);
  assert.equal(s.dev.deviceType, 25);
  assert.equal(s.dev.queueMaxSizes.length, 4);
});

test('PCM_INFO: a playback and a capture stream of S16/S32 at 44100/48000 Hz, 1..2 channels', () => {
  const s = setup();
  const a = s.query(REQ.PCM_INFO, 0, 2, 32)!;
  assert.equal(a.status, STATUS.OK);
  assert.equal(a.len, 4 + 64);
  for (const [i, direction] of [[0, 0], [1, 1]]) {
    const info = a.reply.subarray(4 + 32 * i!, 4 + 32 * (i! + 1));
    assert.equal(info.readUInt32LE(4), 0, 'no features');
    assert.equal(info.readBigUInt64LE(8), (1n << BigInt(FORMAT.S16)) | (1n << BigInt(FORMAT.S32)));
    assert.equal(info.readBigUInt64LE(16), (1n << BigInt(RATE.R44100)) | (1n << BigInt(RATE.R48000)));
    assert.deepEqual([info[24], info[25], info[26]], [direction, 1, 2]);
  }
});

test('JACK_INFO and CHMAP_INFO: a connected jack and a stereo map per stream', () => {
  const s = setup();
  const jacks = s.query(REQ.JACK_INFO, 0, 2, 24)!;
  assert.equal(jacks.status, STATUS.OK);
  for (const i of [0, 1]) {
    const j = jacks.reply.subarray(4 + 24 * i, 28 + 24 * i);
    assert.equal(j.readUInt32LE(4), 0, 'no remap feature');
    assert.equal(j[16], 1, 'connected');
  }
  // Line out and line in: the HDA default configuration's device field (bits 20..23).
  assert.equal((jacks.reply.readUInt32LE(4 + 8) >>> 20) & 0xf, 0);
  assert.equal((jacks.reply.readUInt32LE(28 + 8) >>> 20) & 0xf, 8);
  const maps = s.query(REQ.CHMAP_INFO, 1, 1, 24)!;
  assert.equal(maps.status, STATUS.OK);
  assert.deepEqual([...maps.reply.subarray(8, 12)], [1, 2, CHMAP_POS.FL, CHMAP_POS.FR]);
});

test('info requests: a larger size pads each item; a bad start, count or size, or too little room, is BAD_MSG', () => {
  const s = setup();
  const padded = s.query(REQ.PCM_INFO, 1, 1, 40)!;
  assert.equal(padded.status, STATUS.OK);
  assert.equal(padded.len, 44);
  assert.equal(padded.reply[4 + 24], 1, 'direction of stream 1');
  assert.ok(padded.reply.subarray(4 + 32, 44).equals(Buffer.alloc(8)), 'zero padding');
  assert.equal(s.query(REQ.PCM_INFO, 2, 0, 32)!.status, STATUS.OK, 'nothing asked at the end');
  const bad: [number, number, number, number, number?][] = [
    [REQ.PCM_INFO, 3, 0, 32], [REQ.PCM_INFO, 0, 3, 32], [REQ.PCM_INFO, 1, 2, 32], [REQ.PCM_INFO, 0xffffffff, 2, 32],
    [REQ.PCM_INFO, 0, 1, 31], [REQ.PCM_INFO, 0, 1, 1025], [REQ.JACK_INFO, 0, 1, 23], [REQ.CHMAP_INFO, 2, 1, 24],
    [REQ.PCM_INFO, 0, 2, 32, 67], [REQ.JACK_INFO, 0, 1, 24, 4],
  ];
  for (const [code, start, count, size, room] of bad) {
    const a = s.query(code, start, count, size, room ?? 4 + 64);
    assert.equal(a?.status, STATUS.BAD_MSG, `${code} ${start} ${count} ${size} ${room}`);
    assert.equal(a.len, 4, 'only the status');
  }
  assert.equal(s.dev.counters().badMessages, bad.length);
  assert.deepEqual(s.ctx.failures, []);
});

test('JACK_REMAP is NOT_SUPP for a jack, BAD_MSG for no jack; an unknown code is NOT_SUPP', () => {
  const s = setup();
  const remap = (jack: number) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(REQ.JACK_REMAP, 0);
    r.writeUInt32LE(jack, 4);
    return s.request(r)?.status;
  };
  assert.equal(remap(0), STATUS.NOT_SUPP);
  assert.equal(remap(2), STATUS.BAD_MSG);
  for (const code of [0, 3, 0x106, 0x201, 0x1000, 0xffffffff]) {
    assert.equal(s.request(Buffer.from(Uint32Array.of(code).buffer))?.status, STATUS.NOT_SUPP, `code ${code}`);
  }
});

test('SET_PARAMS: offered values are OK; values not offered NOT_SUPP; undefined values and bad sizes BAD_MSG', () => {
  const s = setup();
  assert.equal(s.setParams(), STATUS.OK);
  assert.equal(s.setParams({ format: FORMAT.S32, rate: RATE.R44100, channels: 1, periodBytes: 4096, bufferBytes: 65536 }),
    STATUS.OK);
  assert.equal(s.setParams({ stream: 1, periodBytes: 64, bufferBytes: 1 << 20 }), STATUS.OK, 'smallest period, largest buffer');
  const notSupp = [{ format: 3 }, { format: FORMAT.S16 + 1 }, { rate: 1 }, { rate: 13 }, { channels: 3 }, { features: 1 },
    { features: 1 << 4 }];
  for (const p of notSupp) assert.equal(s.setParams(p), STATUS.NOT_SUPP, JSON.stringify(p));
  const badMsg = [{ format: 25 }, { format: 255 }, { rate: 14 }, { channels: 0 }, { features: 1 << 5 },
    { periodBytes: 60, bufferBytes: 120 }, { periodBytes: 65540, bufferBytes: 65540 * 2 },
    { periodBytes: 1024, bufferBytes: (1 << 20) + 1024 }, { periodBytes: 1920, bufferBytes: 1920 * 3 + 4 },
    { periodBytes: 1922, bufferBytes: 1922 * 2 }, { periodBytes: 1920, bufferBytes: 0 }, { stream: 2 },
    { stream: 0xffffffff }];
  for (const p of badMsg) assert.equal(s.setParams(p), STATUS.BAD_MSG, JSON.stringify(p));
  const n = s.dev.counters();
  assert.equal(n.notSupported, notSupp.length);
  assert.equal(n.badMessages, badMsg.length);
  assert.equal(n.outOfOrder, 0);
});

test('the lifecycle: each command in each state is taken or refused BAD_MSG as the table says, and counted', () => {
  const commands = { SET_PARAMS: -1, PREPARE: REQ.PCM_PREPARE, START: REQ.PCM_START, STOP: REQ.PCM_STOP,
    RELEASE: REQ.PCM_RELEASE } as const;
  type Command = keyof typeof commands;
  /** How to reach each state from a fresh device, and what it allows. */
  const states: [string, Command[], Command[]][] = [
    ['initial', [], ['SET_PARAMS']],
    ['params', ['SET_PARAMS'], ['SET_PARAMS', 'PREPARE']],
    ['prepared', ['SET_PARAMS', 'PREPARE'], ['SET_PARAMS', 'PREPARE', 'START', 'RELEASE']],
    ['started', ['SET_PARAMS', 'PREPARE', 'START'], ['STOP']],
    ['stopped', ['SET_PARAMS', 'PREPARE', 'START', 'STOP'], ['START', 'RELEASE']],
    ['released', ['SET_PARAMS', 'PREPARE', 'RELEASE'], ['SET_PARAMS', 'PREPARE']],
  ];
  for (const [name, path, allowed] of states) {
    for (const c of Object.keys(commands) as Command[]) {
      const s = setup();
      const run = (cmd: Command) => (cmd === 'SET_PARAMS' ? s.setParams({ stream: 1 }) : s.pcm(commands[cmd], 1));
      for (const step of path) assert.equal(run(step), STATUS.OK, `${name}: ${step}`);
      const want = allowed.includes(c) ? STATUS.OK : STATUS.BAD_MSG;
      assert.equal(run(c), want, `${c} in ${name}`);
      assert.equal(s.dev.counters().outOfOrder, want === STATUS.OK ? 0 : 1);
      // A refused command changed nothing: what the state allowed, it still allows.
      if (want === STATUS.BAD_MSG) assert.equal(run(allowed[0]!), STATUS.OK, `${name} still allows ${allowed[0]}`);
    }
  }
});

test('a PCM command names a stream that exists, else BAD_MSG (not counted as out of order)', () => {
  const s = setup();
  for (const code of [REQ.PCM_PREPARE, REQ.PCM_START, REQ.PCM_STOP, REQ.PCM_RELEASE]) {
    assert.equal(s.pcm(code, 2), STATUS.BAD_MSG);
  }
  assert.equal(s.dev.counters().outOfOrder, 0);
  assert.equal(s.dev.counters().badMessages, 4);
});
