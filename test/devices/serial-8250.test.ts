import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  createSerialState, OUTPUT_STALL_LIMIT_MS, Serial8250, SERIAL_INPUT_BYTES, SERIAL_OUTPUT_BYTES, SerialHost,
} from '../../src/devices/serial-8250';

const RBR = 0, IER = 1, IIR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

/** A UART and its host side over one state, with interrupt counters as spies. */
function setup(): { uart: Serial8250; host: SerialHost; irqs: { uart: number; host: number } } {
  const state = createSerialState();
  const irqs = { uart: 0, host: 0 };
  const uart = new Serial8250(state, { interrupt: () => irqs.uart++ });
  const host = new SerialHost(state, { interrupt: () => irqs.host++ });
  return { uart, host, irqs };
}

function rd(uart: Serial8250, reg: number): number {
  const b = new Uint8Array(1);
  uart.read(reg, b);
  return b[0]!;
}

function wr(uart: Serial8250, reg: number, value: number): void {
  uart.write(reg, Uint8Array.of(value));
}

/**
 * How long a wait on the UART may take before the test gives up. Far above what the work needs even on a loaded
 * machine; a lost wakeup shows as no progress at all, which `within` reports with the ring's state.
 */
const GIVE_UP_MS = 60_000;

/** Resolves with `what` settled, or rejects after GIVE_UP_MS naming what it waited for and the state then. */
async function within<T>(what: string, settled: Promise<T>, state: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const giveUp = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up after ${GIVE_UP_MS} ms waiting for ${what} (${state()})`)),
      GIVE_UP_MS);
  });
  try {
    return await Promise.race([settled, giveUp]);
  } finally {
    clearTimeout(timer);
  }
}

/** A sink for startOutput that keeps the chunks and resolves `reached(n)` once n bytes in all have arrived. */
function collector(): { sink: (c: Buffer) => void; chunks: Buffer[]; received: () => number;
  reached: (n: number) => Promise<Buffer> } {
  const chunks: Buffer[] = [];
  let total = 0;
  let want = Infinity;
  let arrived: () => void = () => {};
  const sink = (c: Buffer): void => {
    chunks.push(c);
    total += c.length;
    if (total >= want) arrived();
  };
  const reached = async (n: number): Promise<Buffer> => {
    if (total < n) {
      want = n;
      await new Promise<void>((r) => (arrived = r));
    }
    return Buffer.concat(chunks);
  };
  return { sink, chunks, received: () => total, reached };
}

function ringState(host: SerialHost, received: () => number): string {
  return `host received ${received()} bytes, ${host.pendingOutput} waiting in the ring, ${host.droppedOutput} dropped`;
}

test('reset state: 8N1, no interrupts, transmitter empty, modem ready', () => {
  const { uart } = setup();
  assert.equal(rd(uart, LCR), 0x03);
  assert.equal(rd(uart, IER), 0x00);
  assert.equal(rd(uart, IIR), 0x01);
  assert.equal(rd(uart, LSR), 0x60);
  assert.equal(rd(uart, MSR), 0xb0);
  assert.equal(rd(uart, MCR), 0x00);
});

test('DLAB switches offsets 0 and 1 to the divisor latch', () => {
  const { uart, host } = setup();
  wr(uart, IER, 0x05);
  wr(uart, LCR, 0x83);
  wr(uart, RBR, 0x01);
  wr(uart, IER, 0x02);
  assert.equal(rd(uart, RBR), 0x01);
  assert.equal(rd(uart, IER), 0x02);
  assert.equal(host.flushOutput().length, 0, 'a DLL write is not output');
  wr(uart, LCR, 0x03);
  assert.equal(rd(uart, IER), 0x05, 'IER kept its value under DLAB');
  wr(uart, RBR, 0x41);
  assert.deepEqual([...host.flushOutput()], [0x41]);
});

test('scratch register and MCR hold what is written', () => {
  const { uart } = setup();
  wr(uart, SCR, 0x5a);
  assert.equal(rd(uart, SCR), 0x5a);
  wr(uart, MCR, 0xff);
  assert.equal(rd(uart, MCR), 0x1f, 'MCR has 5 bits');
});

test('FCR FIFO enable shows in IIR bits 7:6, and the 16750 bit does not stick', () => {
  const { uart } = setup();
  wr(uart, IIR, 0x01);
  assert.equal(rd(uart, IIR), 0xc1);
  // Linux tells a 16750 from a 16550A by this: FCR bit 5 under DLAB must not show in IIR on a 16550A.
  wr(uart, LCR, 0x80);
  wr(uart, IIR, 0x21);
  assert.equal(rd(uart, IIR) >> 5, 6);
  wr(uart, LCR, 0x03);
  wr(uart, IIR, 0x00);
  assert.equal(rd(uart, IIR), 0x01);
});

test('input: LSR.DR, RBR order, RX interrupt edge only when the line rises', () => {
  const { uart, host, irqs } = setup();
  assert.equal(host.pushInput(Uint8Array.of(1, 2)), 2);
  assert.equal(irqs.host, 0, 'RX interrupt not enabled');
  assert.equal(rd(uart, LSR), 0x61);
  wr(uart, IER, 0x01);
  assert.equal(irqs.uart, 1, 'enabling RDI with data waiting raises the line');
  assert.equal(rd(uart, IIR), 0x04);
  host.pushInput(Uint8Array.of(3));
  assert.equal(irqs.host, 0, 'line already high: no new edge');
  assert.deepEqual([rd(uart, RBR), rd(uart, RBR), rd(uart, RBR)], [1, 2, 3]);
  assert.equal(rd(uart, LSR), 0x60);
  assert.equal(rd(uart, IIR), 0x01);
  assert.equal(rd(uart, RBR), 0, 'empty RBR reads 0');
  host.pushInput(Uint8Array.of(4));
  assert.equal(irqs.host, 1, 'new data after the line dropped is a new edge');
});

test('THR-empty interrupt: on enabling THRI, acknowledged by reading IIR, again after each THR write', () => {
  const { uart, host, irqs } = setup();
  wr(uart, IER, 0x02);
  assert.equal(irqs.uart, 1);
  assert.equal(rd(uart, IIR), 0x02);
  assert.equal(rd(uart, IIR), 0x01, 'reading IIR acknowledged THRE');
  wr(uart, RBR, 0x61);
  assert.equal(irqs.uart, 2);
  wr(uart, RBR, 0x62);
  assert.equal(irqs.uart, 3, 'a THR write drops and re-raises the line even if THRE was not acknowledged');
  assert.equal(rd(uart, IIR), 0x02);
  wr(uart, IER, 0x00);
  wr(uart, RBR, 0x63);
  assert.equal(irqs.uart, 3, 'no interrupt with THRI disabled');
  assert.equal(host.flushOutput().toString(), 'abc');
  assert.equal(irqs.host, 0);
});

test('Linux THRE test: re-enabling THRI makes THRE pending again', () => {
  const { uart } = setup();
  wr(uart, IER, 0x02);
  assert.equal(rd(uart, IIR) & 0x0f, 0x02);
  wr(uart, IER, 0x00);
  wr(uart, IER, 0x02);
  assert.equal(rd(uart, IIR) & 0x0f, 0x02, 'no UART_BUG_THRE');
});

test('IIR priority: received data before THR empty; a THR write under a high line is no edge', () => {
  const { uart, host, irqs } = setup();
  wr(uart, IER, 0x03);
  assert.equal(irqs.uart, 1);
  host.pushInput(Uint8Array.of(0x7a));
  assert.equal(rd(uart, IIR), 0x04);
  wr(uart, RBR, 0x21);
  assert.equal(irqs.uart, 1, 'RX held the line high across the THR write');
  assert.equal(rd(uart, RBR), 0x7a);
  assert.equal(rd(uart, IIR), 0x02);
  assert.equal(rd(uart, IIR), 0x01);
});

test('loopback: THR goes to RBR, MSR mirrors MCR outputs', () => {
  const { uart, host } = setup();
  wr(uart, MCR, 0x10 | 0x0a); // LOOP | OUT2 | RTS, as Linux's probe writes
  assert.equal(rd(uart, MSR) & 0xf0, 0x90);
  wr(uart, MCR, 0x10 | 0x05); // LOOP | OUT1 | DTR
  assert.equal(rd(uart, MSR) & 0xf0, 0x60);
  wr(uart, RBR, 0x55);
  assert.equal(rd(uart, LSR) & 0x01, 0x01);
  assert.equal(rd(uart, RBR), 0x55);
  assert.equal(host.flushOutput().length, 0);
  wr(uart, MCR, 0x00);
  assert.equal(rd(uart, MSR), 0xb0);
});

test('FCR clear-RX drops waiting input; wide accesses are split into byte accesses', () => {
  const { uart, host } = setup();
  host.pushInput(Uint8Array.of(1, 2, 3));
  wr(uart, IIR, 0x03);
  assert.equal(rd(uart, LSR), 0x60);
  wr(uart, SCR, 0x99);
  const two = new Uint8Array(2);
  uart.read(MCR, two);
  assert.deepEqual([...two], [0x00, 0x60]);
  const past = new Uint8Array(2);
  uart.read(SCR, past);
  assert.deepEqual([...past], [0x99, 0xff], 'bytes past the 8 registers read as 0xff');
  uart.write(SCR, Uint8Array.of(0x11, 0x22)); // the second byte lands beyond the window and is ignored
  assert.equal(rd(uart, SCR), 0x11);
});

test('input FIFO holds 64 KiB; pushInput reports how much fitted', () => {
  const { uart, host } = setup();
  const big = new Uint8Array(SERIAL_INPUT_BYTES + 100).map((_, i) => i & 0xff);
  assert.equal(host.pushInput(big), SERIAL_INPUT_BYTES);
  assert.equal(host.pushInput(Uint8Array.of(1)), 0);
  assert.equal(rd(uart, RBR), 0);
  assert.equal(rd(uart, RBR), 1);
  assert.equal(host.pushInput(Uint8Array.of(9, 9)), 2, 'room again after two reads');
});

test('full output ring with nobody draining: later bytes are dropped and counted, the writer never blocks', () => {
  const { uart, host } = setup();
  const started = Date.now();
  for (let i = 0; i < SERIAL_OUTPUT_BYTES + 10; i++) wr(uart, RBR, i & 0xff);
  assert.ok(Date.now() - started < 2000);
  assert.equal(host.droppedOutput, 10);
  const out = host.flushOutput();
  assert.equal(out.length, SERIAL_OUTPUT_BYTES);
  assert.equal(out[0], 0);
  assert.equal(out[SERIAL_OUTPUT_BYTES - 1], (SERIAL_OUTPUT_BYTES - 1) & 0xff);
});

test('discardOutput: nothing is kept, nothing waits', () => {
  const { uart, host } = setup();
  wr(uart, RBR, 0x41);
  host.discardOutput();
  for (let i = 0; i < SERIAL_OUTPUT_BYTES * 2; i++) wr(uart, RBR, 0x42);
  assert.equal(host.flushOutput().length, 0);
  assert.equal(host.droppedOutput, 0);
});

test('startOutput delivers promptly without polling; stopOutput ends the loop', async () => {
  const { uart, host } = setup();
  const { sink, chunks, received, reached } = collector();
  host.startOutput(sink);
  assert.throws(() => host.startOutput(() => {}), /already/);
  for (const ch of Buffer.from('hello')) wr(uart, RBR, ch);
  await within('"hello" to reach the host', reached(5), () => ringState(host, received));
  assert.equal(Buffer.concat(chunks).toString(), 'hello');
  host.stopOutput();
  wr(uart, RBR, 0x21);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(Buffer.concat(chunks).toString(), 'hello', 'no delivery after stopOutput');
  assert.equal(host.flushOutput().toString(), '!', 'the byte waits in the ring');
});

const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const { Serial8250 } = require(workerData.modulePath);
const uart = new Serial8250(workerData.state, { interrupt: () => {} });
const b = new Uint8Array(1);
parentPort.postMessage('writing');
const lane = workerData.lane ?? -1;
for (let i = 0; i < workerData.count; i++) {
  b[0] = lane < 0 ? (i * 7) & 0xff : ((i << 1) | lane) & 0xff; // two lanes: even and odd bytes
  uart.write(0, b);
}
parentPort.postMessage('done');
`;

function spawnWriter(state: SharedArrayBuffer, count: number, lane = -1): { worker: Worker; writing: Promise<void>;
  done: Promise<void> } {
  const modulePath = path.join(__dirname, '..', '..', 'src', 'devices', 'serial-8250.js');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { state, count, modulePath, lane } });
  let writing!: () => void;
  let done!: () => void;
  let finished = false;
  const w = new Promise<void>((r) => (writing = r));
  const d = new Promise<void>((resolve, reject) => {
    done = () => {
      finished = true;
      resolve();
    };
    worker.on('error', reject);
    // A worker that ends without saying so would otherwise leave the test waiting for a message that never comes.
    worker.on('exit', (code) => {
      if (!finished) reject(new Error(`writer (lane ${lane}) exited with code ${code} before writing ${count} bytes`));
    });
  });
  worker.on('message', (m) => (m === 'writing' ? writing() : m === 'done' ? done() : undefined));
  return { worker, writing: w, done: d };
}

function checkSequence(out: Buffer, count: number): void {
  assert.equal(out.length, count);
  for (let i = 0; i < count; i++) {
    if (out[i] !== ((i * 7) & 0xff)) assert.fail(`byte ${i} is ${out[i]}, expected ${(i * 7) & 0xff}`);
  }
}

test('output written on a worker thread arrives complete and in order (ring wraps several times)', async () => {
  const state = createSerialState();
  const host = new SerialHost(state, { interrupt: () => {} });
  const { sink, chunks, received, reached } = collector();
  host.startOutput(sink);
  const count = SERIAL_OUTPUT_BYTES * 4 + 123;
  const { worker, done } = spawnWriter(state, count);
  const stateNow = (): string => ringState(host, received);
  let out: Buffer;
  try {
    await within('the writer to finish', done, stateNow);
    out = await within(`all ${count} bytes to reach the host`, reached(count), stateNow);
  } finally {
    host.stopOutput();
    await worker.terminate();
  }
  checkSequence(out, count);
  assert.equal(host.droppedOutput, 0);
  assert.ok(chunks.length < count / 4, `bytes were coalesced (${chunks.length} chunks)`);
});

test('a full ring makes the writer wait for the drain instead of dropping bytes', async () => {
  const state = createSerialState();
  const host = new SerialHost(state, { interrupt: () => {} });
  const { sink, received, reached } = collector();
  host.startOutput(sink);
  const count = SERIAL_OUTPUT_BYTES * 2;
  const { worker, writing, done } = spawnWriter(state, count);
  const stateNow = (): string => ringState(host, received);
  try {
    await within('the writer to start', writing, stateNow);
    // Keep the main thread (the only reader) busy until the worker has filled the ring (well before the writer's
    // stall limit, however loaded the machine is).
    const nap = new Int32Array(new SharedArrayBuffer(4));
    const until = Date.now() + OUTPUT_STALL_LIMIT_MS / 2;
    while (host.pendingOutput < SERIAL_OUTPUT_BYTES && Date.now() < until) Atomics.wait(nap, 0, 0, 10);
    const full = host.flushOutput();
    assert.equal(full.length, SERIAL_OUTPUT_BYTES, 'the writer filled the ring and then waited');
    await within('the writer to finish', done, stateNow);
    // The flushed ring went to the sink too, so everything written arrives there.
    const out = await within(`all ${count} bytes to reach the host`, reached(count), stateNow);
    checkSequence(out, count);
  } finally {
    host.stopOutput();
    await worker.terminate();
  }
  assert.equal(host.droppedOutput, 0);
});

test('two vCPU threads writing at once: nothing lost, each thread\'s bytes in order', async () => {
  const state = createSerialState();
  const host = new SerialHost(state, { interrupt: () => {} });
  const { sink, received, reached } = collector();
  host.startOutput(sink);
  const count = SERIAL_OUTPUT_BYTES * 2;
  const writers = [spawnWriter(state, count, 0), spawnWriter(state, count, 1)];
  const stateNow = (): string => ringState(host, received);
  let out: Buffer;
  try {
    await within('both writers to finish', Promise.all(writers.map((w) => w.done)), stateNow);
    out = await within(`all ${2 * count} bytes to reach the host`, reached(2 * count), stateNow);
  } finally {
    host.stopOutput();
    await Promise.all(writers.map((w) => w.worker.terminate()));
  }
  assert.equal(host.droppedOutput, 0);
  assert.equal(out.length, 2 * count);
  for (const lane of [0, 1]) {
    const mine = out.filter((b) => (b & 1) === lane);
    assert.equal(mine.length, count);
    for (let i = 0; i < count; i++) {
      if (mine[i] !== (((i << 1) | lane) & 0xff)) assert.fail(`lane ${lane} byte ${i} out of order`);
    }
  }
});

test('the state must come from createSerialState', () => {
  assert.throws(() => new Serial8250(new SharedArrayBuffer(16), { interrupt: () => {} }), TypeError);
  assert.throws(() => new SerialHost(new ArrayBuffer(8) as unknown as SharedArrayBuffer, { interrupt: () => {} }),
    TypeError);
});

test('every edge is raised with the lock held, so a vCPU thread\'s pulse and the main thread\'s cannot interleave', () => {
  const state = createSerialState();
  const lock = new Int32Array(state, 0, 1);
  const held: boolean[] = [];
  const seen = (): void => void held.push(Atomics.load(lock, 0) !== 0);
  const uart = new Serial8250(state, { interrupt: seen });
  const host = new SerialHost(state, { interrupt: seen });
  wr(uart, IER, 0x03);            // THRI pending at once: an edge from a register write
  rd(uart, IIR);                  // acknowledged: the line drops
  host.pushInput(Uint8Array.of(7)); // input: an edge from the main thread
  rd(uart, RBR);
  rd(uart, IIR);
  wr(uart, RBR, 0x41);            // a transmitted byte: THR empties again, an edge from transmit
  assert.ok(held.length >= 3, `edges seen: ${held.length}`);
  assert.deepEqual(held, held.map(() => true), 'each edge came while the UART lock was held');
});
