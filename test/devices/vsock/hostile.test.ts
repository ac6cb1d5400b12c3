// A guest that breaks the protocol loses that packet or that connection, counted; a chain the device cannot use
// costs the device; nothing costs the VMM.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import { test } from 'node:test';
import { HDR_SIZE, MAX_PAYLOAD, OP } from '../../../src/devices/vsock/packet';
import { F_WRITE } from '../../virtio-mmio/mock-driver';
import { HostEnd } from '../../helpers/vsock-host';
import { until } from '../../helpers/wait';
import { openFromHost, TestGuest } from './test-guest';

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 30));

test('packets with a wrong source or destination cid are dropped and counted, with no answer', async () => {
  const g = new TestGuest();
  try {
    g.activate();
    g.send({ op: OP.REQUEST, srcCid: 4n, srcPort: 1, dstPort: 2 });
    g.send({ op: OP.REQUEST, dstCid: 3n, srcPort: 1, dstPort: 2 });
    g.send({ op: OP.REQUEST, srcCid: 3n | (1n << 40n), srcPort: 1, dstPort: 2 });
    await settle();
    assert.equal(g.inbox.length, 0);
    assert.equal(g.dev.counters().errors, 3);
    assert.equal(g.dev.counters().connectionsTotal, 0);
  } finally { g.close(); }
});

test('lengths the buffers do not hold, payload on control packets, unknown types: RST, counted', async () => {
  const g = new TestGuest();
  try {
    g.activate();
    // header says 100, chain holds 10
    g.queueTx({ op: OP.RW, srcPort: 1, dstPort: 2, len: 100 }, Buffer.alloc(10));
    g.queueTx({ op: OP.REQUEST, srcPort: 3, dstPort: 4, len: 5 }, Buffer.alloc(5));
    g.queueTx({ op: OP.REQUEST, srcPort: 5, dstPort: 6, type: 2 });
    g.queueTx({ op: OP.RW, srcPort: 7, dstPort: 8, len: MAX_PAYLOAD + 1 }, Buffer.alloc(MAX_PAYLOAD + 1));
    g.kickTx();
    await until(() => g.inbox.length === 4, 'four RSTs');
    assert.ok(g.inbox.every((p) => p.op === OP.RST));
    assert.deepEqual(g.inbox.map((p) => p.dstPort), [1, 3, 5, 7]);
    assert.equal(g.dev.counters().errors, 4);
    assert.equal(g.failures.length, 0);
  } finally { g.close(); }
});

test('packets for no connection get an RST (never an RST for an RST)', async () => {
  const g = new TestGuest();
  try {
    g.activate();
    for (const op of [OP.RW, OP.RESPONSE, OP.SHUTDOWN, OP.CREDIT_UPDATE, OP.CREDIT_REQUEST, OP.RST]) {
      g.send({ op, srcPort: 10 + op, dstPort: 99 }, op === OP.RW ? Buffer.from('x') : undefined);
    }
    await until(() => g.inbox.length === 5, 'five RSTs');
    await settle();
    assert.equal(g.inbox.length, 5);
    assert.deepEqual(g.inbox.map((p) => p.dstPort), [15, 12, 14, 16, 17]);
  } finally { g.close(); }
});

test('an unknown op, a second REQUEST, or data before RESPONSE cost the guest that connection', async () => {
  const g = new TestGuest();
  try {
    g.activate();
    for (const [i, op] of [99, OP.REQUEST, OP.RESPONSE].entries()) {
      const { host, hostPort } = await openFromHost(g, 300 + i);
      g.send({ op, srcPort: 300 + i, dstPort: hostPort });
      await g.next((p) => p.op === OP.RST && p.dstPort === 300 + i, `RST after op ${op}`);
      await until(() => host.ended, 'EOF at the host');
    }
    // RW while the device still waits for the RESPONSE
    const h = HostEnd.connect(g.socket, 'CONNECT 310\n');
    const r = await g.next((p) => p.op === OP.REQUEST && p.dstPort === 310, 'REQUEST');
    g.send({ op: OP.RW, srcPort: 310, dstPort: r.srcPort }, Buffer.from('too early'));
    await g.next((p) => p.op === OP.RST && p.dstPort === 310, 'RST');
    await until(() => h.ended, 'EOF');
    assert.equal(h.text, '');
    assert.equal(g.dev.counters().errors, 4);
    assert.equal(g.dev.counters().connectionsOpen, 0);
  } finally { g.close(); }
});

test('a flood of REQUESTs: connections beyond the limit are refused with RST', async () => {
  const g = new TestGuest({ maxConnections: 8, rxBuffers: 64 });
  const accepted: HostEnd[] = [];
  // A host that accepts and holds each connection: the 8 slots stay taken however the device spreads the 40
  // REQUESTs over event-loop turns (with no listener, a failed connect could free a slot between two slices).
  const server = net.createServer({ allowHalfOpen: true }, (s) => accepted.push(new HostEnd(s)));
  try {
    server.listen(`${g.socket}_1`);
    await once(server, 'listening');
    g.activate();
    for (let i = 0; i < 40; i++) g.queueTx({ op: OP.REQUEST, srcPort: 2000 + i, dstPort: 1 });
    g.kickTx();
    await until(() => g.inbox.filter((p) => p.op === OP.RST).length === 32, '32 RSTs');
    await until(() => g.inbox.filter((p) => p.op === OP.RESPONSE).length === 8, '8 RESPONSEs');
    const c = g.dev.counters();
    assert.equal(c.connectionsRefused, 32);
    assert.equal(c.connectionsOpen, 8);
    assert.deepEqual(g.inbox.filter((p) => p.op === OP.RESPONSE).map((p) => p.dstPort).sort((a, b) => a - b), [2000, 2001, 2002, 2003, 2004, 2005, 2006, 2007]);
  } finally {
    g.close();
    server.close();
  }
});

test('RSTs waiting for rx buffers are bounded; the rest are dropped and counted', async () => {
  const g = new TestGuest({ rxBuffers: 0 });
  try {
    g.activate();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 100; i++) g.queueTx({ op: OP.CREDIT_UPDATE, srcPort: 3000 + round * 100 + i, dstPort: 1 });
      g.kickTx();
      // The device serves a ring in slices of the turn, so the last of a round may be read on a later turn; the
      // next round waits for it, as 200 at once would overrun the ring.
      await until(() => g.tx.usedIdx() === 100 * (round + 1), `round ${round} read`);
    }
    assert.equal(g.dev.counters().resetsDropped, 300 - 256);
    g.postRx(128);
    await until(() => g.inbox.length === 256, '256 RSTs');
  } finally { g.close(); }
});

test('a tx chain too short for a header, or an rx chain with a readable buffer, costs the device', async () => {
  const g = new TestGuest();
  try {
    g.activate();
    g.tx.addChain([{ addr: 0x300000, len: HDR_SIZE - 1, flags: 0 }]);
    g.kickTx();
    assert.equal(g.failures.length, 1);
    assert.match(g.failures[0]!, /no vsock header/);
  } finally { g.close(); }
  const h = new TestGuest({ rxBuffers: 0 });
  try {
    h.activate();
    h.rx.addChain([{ addr: 0x100000, len: 64, flags: 0 }, { addr: 0x101000, len: 4096, flags: F_WRITE }]);
    h.send({ op: OP.RW, srcPort: 1, dstPort: 2 }, Buffer.from('x')); // its RST needs an rx buffer
    assert.equal(h.failures.length, 1);
    assert.match(h.failures[0]!, /rx chain/);
  } finally { h.close(); }
});
