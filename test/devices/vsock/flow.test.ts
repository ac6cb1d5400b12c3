// Credit-based flow control both ways, large transfers checked byte for byte, and many connections at once.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { test } from 'node:test';
import { BUF_ALLOC } from '../../../src/devices/vsock/connection';
import { MAX_PAYLOAD, OP } from '../../../src/devices/vsock/packet';
import { HostEnd } from '../../helpers/vsock-host';
import { until } from '../../helpers/wait';
import { openFromHost, TestGuest, type Pkt } from './test-guest';

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 50));

test('the device sends no more than the guest\'s credit, asks for more, and resumes on CREDIT_UPDATE', async () => {
  const g = new TestGuest();
  try {
    g.activate();
    const host = HostEnd.connect(g.socket, 'CONNECT 80\n');
    const req = await g.next((p) => p.op === OP.REQUEST, 'REQUEST');
    const ids = { srcPort: 80, dstPort: req.srcPort };
    g.send({ op: OP.RESPONSE, ...ids, bufAlloc: 5000 });
    await until(() => host.text.includes('\n'), 'OK');
    const sent = randomBytes(12_000);
    host.sock.write(sent);
    const got: Buffer[] = [];
    const drain = (): number => {
      for (let p = g.inbox.shift(); p !== undefined; p = g.inbox.shift()) if (p.op === OP.RW) got.push(p.payload);
      return Buffer.concat(got).length;
    };
    await g.next((p) => p.op === OP.CREDIT_REQUEST, 'CREDIT_REQUEST');
    await settle();
    assert.equal(drain(), 5000);
    g.send({ op: OP.CREDIT_UPDATE, ...ids, bufAlloc: 5000, fwdCnt: 5000 });
    await until(() => drain() === 10_000, 'second window');
    g.send({ op: OP.CREDIT_UPDATE, ...ids, bufAlloc: 5000, fwdCnt: 10_000 });
    await until(() => drain() === 12_000, 'the rest');
    assert.deepEqual(Buffer.concat(got), sent);
  } finally { g.close(); }
});

test('a guest without credit makes the device stop reading the host socket', async () => {
  const g = new TestGuest();
  try {
    g.activate();
    const host = HostEnd.connect(g.socket, 'CONNECT 82\n');
    const req = await g.next((p) => p.op === OP.REQUEST, 'REQUEST');
    g.send({ op: OP.RESPONSE, srcPort: 82, dstPort: req.srcPort, bufAlloc: 0 });
    await until(() => host.text.includes('\n'), 'OK');
    host.sock.write(Buffer.alloc(8 << 20));
    // Wait until the host's unsent bytes stop moving: the device has read all it is going to.
    let last = -1;
    await until(() => { const now = host.sock.writableLength; const same = now === last; last = now; return same; },
      'the host socket to settle', 10_000, { everyMs: 100 });
    // What the device did not read stays with the host program (the kernel's socket buffers hold a few hundred KiB).
    assert.ok(host.sock.writableLength > 6 << 20, `host still holds ${host.sock.writableLength} bytes`);
    assert.equal(g.inbox.filter((p) => p.op === OP.RW).length, 0);
    g.send({ op: OP.CREDIT_UPDATE, srcPort: 82, dstPort: req.srcPort, bufAlloc: 4096 });
    const rw = await g.next((p) => p.op === OP.RW, 'data once credit came');
    assert.equal(rw.len, 4096);
  } finally { g.close(); }
});

test('with no rx buffers the data waits, and goes when buffers are posted', async () => {
  const g = new TestGuest({ rxBuffers: 4 });
  try {
    g.activate();
    const { host, hostPort } = await openFromHost(g, 81);
    g.autoRepost = false;
    const sent = randomBytes(64 * 1024);
    host.sock.write(sent);
    await until(() => g.inbox.filter((p) => p.op === OP.RW).length === 4, 'the four buffers used');
    await settle();
    assert.equal(g.inbox.length, 4);
    g.autoRepost = true;
    g.postRx(8);
    await until(() => Buffer.concat(g.inbox.filter((p) => p.op === OP.RW).map((p) => p.payload)).length === sent.length,
      'all of it');
    assert.deepEqual(Buffer.concat(g.inbox.map((p) => p.payload)), sent);
    assert.ok(g.inbox.every((p) => p.srcPort === hostPort));
  } finally { g.close(); }
});

/** Plays a Linux-like receiving guest: consumes RW payloads and returns credit when half its buffer is free. */
function consume(g: TestGuest, ids: { srcPort: number; dstPort: number }, bufAlloc: number, out: Buffer[]): () => void {
  let fwd = 0;
  let advertised = 0;
  return () => {
    for (let p = g.inbox.shift(); p !== undefined; p = g.inbox.shift()) {
      if (p.op !== OP.RW) continue;
      assert.ok(p.len <= bufAlloc - (fwd - advertised), 'the device exceeded the credit');
      out.push(p.payload);
      fwd += p.len;
    }
    if (fwd - advertised >= bufAlloc / 2) {
      advertised = fwd;
      g.send({ op: OP.CREDIT_UPDATE, ...ids, bufAlloc, fwdCnt: fwd >>> 0 });
    }
  };
}

test('4 MiB from the host reach the guest intact, within credit', async () => {
  const g = new TestGuest({ rxBuffers: 64, rxSplit: true });
  try {
    g.activate();
    const { host, hostPort } = await openFromHost(g, 90);
    const sent = randomBytes(4 << 20);
    host.sock.write(sent);
    const got: Buffer[] = [];
    // openFromHost's RESPONSE advertised 256 KiB.
    const step = consume(g, { srcPort: 90, dstPort: hostPort }, 256 * 1024, got);
    await until(() => { step(); return got.reduce((n, b) => n + b.length, 0) >= sent.length; }, 'all 4 MiB', 60_000);
    assert.ok(Buffer.concat(got).equals(sent));
    assert.equal(g.dev.counters().errors, 0);
  } finally { g.close(); }
});

test('4 MiB from the guest reach the host intact; the guest never has to exceed our credit', async () => {
  const g = new TestGuest();
  try {
    g.activate();
    const { host, hostPort } = await openFromHost(g, 91);
    const ids = { srcPort: 91, dstPort: hostPort };
    const sent = randomBytes(4 << 20);
    let txCnt = 0;
    let credit = { bufAlloc: BUF_ALLOC, fwdCnt: 0 };
    const note = (p: Pkt): void => { credit = { bufAlloc: p.bufAlloc, fwdCnt: p.fwdCnt }; };
    await until(() => {
      g.inbox.splice(0).forEach(note);
      const room = credit.bufAlloc - (txCnt - credit.fwdCnt);
      for (let n = Math.min(room, MAX_PAYLOAD, sent.length - txCnt); n > 0;
        n = Math.min(credit.bufAlloc - (txCnt - credit.fwdCnt), MAX_PAYLOAD, sent.length - txCnt)) {
        g.send({ op: OP.RW, ...ids }, sent.subarray(txCnt, txCnt + n));
        txCnt += n;
      }
      return host.afterOk.length >= sent.length;
    }, 'all 4 MiB at the host', 60_000);
    assert.ok(host.afterOk.equals(sent));
    assert.ok((g.dev.counters().rxPackets ?? 0) > 3, 'credit updates came back'); // REQUEST + updates
    assert.equal(g.dev.counters().errors, 0);
  } finally { g.close(); }
});

test('data beyond the credit we advertised costs the guest its connection', async () => {
  const g = new TestGuest();
  try {
    g.activate();
    const { host, hostPort } = await openFromHost(g, 92);
    host.sock.pause();
    // 1 MiB against our 256 KiB of credit, to a host end that reads nothing: even if the device's per-turn budget
    // splits the batch and what it wrote to the host socket is credited back meanwhile, that socket's buffers
    // (a few hundred KiB) fill long before the guest's data ends, so the guest exceeds the credit whatever the timing.
    for (let i = 0; i < 16; i++) g.queueTx({ op: OP.RW, srcPort: 92, dstPort: hostPort }, Buffer.alloc(MAX_PAYLOAD, i));
    g.kickTx();
    const rst = await g.next((p) => p.op === OP.RST, 'RST');
    assert.deepEqual([rst.srcPort, rst.dstPort], [hostPort, 92]);
    assert.equal(g.dev.counters().errors, 1);
    assert.equal(g.dev.counters().connectionsOpen, 0);
  } finally { g.close(); }
});

test('64 connections at once from the host and 16 from the guest, each with its own data', async () => {
  const g = new TestGuest({ rxBuffers: 128 });
  const accepted: HostEnd[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => accepted.push(new HostEnd(s)));
  try {
    server.listen(`${g.socket}_7000`);
    g.activate();
    const hosts = Array.from({ length: 64 }, (_, i) => HostEnd.connect(g.socket, `CONNECT ${1000 + i}\n`));
    await until(() => g.inbox.filter((p) => p.op === OP.REQUEST).length === 64, '64 REQUESTs');
    const reqs = g.inbox.splice(0);
    for (const r of reqs) g.send({ op: OP.RESPONSE, srcPort: r.dstPort, dstPort: r.srcPort });
    await until(() => hosts.every((h) => h.text.includes('\n')), 'all OK');
    hosts.forEach((h, i) => h.sock.write(`from host ${i}`));
    for (let i = 0; i < 16; i++) g.send({ op: OP.REQUEST, srcPort: 50000 + i, dstPort: 7000 });
    await until(() => accepted.length === 16, '16 accepted');
    for (const r of reqs) g.send({ op: OP.RW, srcPort: r.dstPort, dstPort: r.srcPort }, Buffer.from(`to host ${r.dstPort}`));
    await until(() => hosts.every((h, i) => h.afterOk.toString() === `to host ${1000 + i}`), 'guest data at every host');
    await until(() => g.inbox.filter((p) => p.op === OP.RW).length === 64, 'host data at the guest');
    for (const p of g.inbox.filter((x) => x.op === OP.RW)) assert.equal(p.payload.toString(), `from host ${p.dstPort - 1000}`);
    assert.equal(g.dev.counters().connectionsOpen, 80);
    assert.equal(new Set(reqs.map((r) => r.srcPort)).size, 64, 'distinct host ports');
  } finally {
    g.close();
    server.close();
  }
});
