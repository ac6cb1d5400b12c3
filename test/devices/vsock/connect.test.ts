// Opening connections both ways over real unix sockets, and the handshake's failure cases.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { test } from 'node:test';
import { VsockDevice } from '../../../src/devices/vsock/device';
import { OP } from '../../../src/devices/vsock/packet';
import { HostEnd } from '../../helpers/vsock-host';
import { until } from '../../helpers/wait';
import { TestGuest } from './test-guest';

test('config space is the guest cid; type 19 with rx, tx and event queues', () => {
  const g = new TestGuest({ cid: 0x1234_5678 });
  try {
    assert.equal(g.dev.deviceType, 19);
    assert.equal(g.dev.queueMaxSizes.length, 3);
    assert.equal(Buffer.from(g.dev.configSpace()).readBigUInt64LE(0), 0x1234_5678n);
  } finally { g.close(); }
});

test('host CONNECT: REQUEST to the guest, OK after its RESPONSE, then bytes both ways', async () => {
  const g = new TestGuest({ rxSplit: true });
  try {
    g.activate();
    const host = HostEnd.connect(g.socket, 'CONNECT 1234\nearly');
    const req = await g.next((p) => p.op === OP.REQUEST, 'REQUEST');
    assert.equal(req.srcCid, 2n);
    assert.equal(req.dstCid, 3n);
    assert.equal(req.dstPort, 1234);
    assert.ok(req.srcPort >= 1 << 30);
    assert.equal(req.bufAlloc, 256 * 1024);
    assert.equal(host.text, '');
    g.send({ op: OP.RESPONSE, srcPort: 1234, dstPort: req.srcPort });
    await until(() => host.text.startsWith(`OK ${req.srcPort}\n`), 'OK line');
    // What the host wrote after its CONNECT line waited for the RESPONSE.
    const early = await g.next((p) => p.op === OP.RW, 'early bytes');
    assert.equal(early.payload.toString(), 'early');
    host.sock.write('ping');
    const rw = await g.next((p) => p.op === OP.RW, 'ping');
    assert.deepEqual([rw.srcPort, rw.dstPort, rw.payload.toString()], [req.srcPort, 1234, 'ping']);
    g.send({ op: OP.RW, srcPort: 1234, dstPort: req.srcPort }, Buffer.from('pong'));
    await until(() => host.afterOk.toString() === 'pong', 'pong at the host');
    const c = g.dev.counters();
    assert.equal(c.connectionsOpen, 1);
    assert.equal(c.txBytes, 4);
    assert.equal(c.rxBytes, 9);
    assert.equal(c.errors, 0);
  } finally { g.close(); }
});

test('a RST from the guest (nobody listens on the port) closes the host connection without OK', async () => {
  const g = new TestGuest();
  try {
    g.activate();
    const host = HostEnd.connect(g.socket, 'CONNECT 9\n');
    const req = await g.next((p) => p.op === OP.REQUEST, 'REQUEST');
    g.send({ op: OP.RST, srcPort: 9, dstPort: req.srcPort });
    await until(() => host.ended, 'EOF at the host');
    assert.equal(host.text, '');
    assert.equal(g.dev.counters().connectionsOpen, 0);
    assert.equal(g.dev.counters().resetsReceived, 1);
    assert.equal(g.dev.counters().resetsSent, 0);
  } finally { g.close(); }
});

test('a guest that never answers: the host connection is closed after the timeout and the guest gets an RST', async () => {
  const g = new TestGuest({ connectTimeoutMs: 100 });
  try {
    g.activate();
    const host = HostEnd.connect(g.socket, 'CONNECT 77\n');
    const req = await g.next((p) => p.op === OP.REQUEST, 'REQUEST');
    await until(() => host.ended, 'EOF at the host');
    const rst = await g.next((p) => p.op === OP.RST, 'RST');
    assert.deepEqual([rst.srcPort, rst.dstPort], [req.srcPort, 77]);
    assert.equal(g.dev.counters().connectTimeouts, 1);
    // A late RESPONSE belongs to no connection any more.
    g.send({ op: OP.RESPONSE, srcPort: 77, dstPort: req.srcPort });
    await g.next((p) => p.op === OP.RST, 'RST for the late RESPONSE');
  } finally { g.close(); }
});

test('a CONNECT that arrives before the driver is ready waits for it', async () => {
  const g = new TestGuest();
  try {
    HostEnd.connect(g.socket, 'CONNECT 5\n');
    await until(() => g.dev.counters().connectionsOpen === 1, 'connection');
    g.activate();
    await g.next((p) => p.op === OP.REQUEST && p.dstPort === 5, 'REQUEST');
  } finally { g.close(); }
});

test('malformed, over-long and unterminated CONNECT lines close the host connection', async () => {
  const g = new TestGuest({ connectTimeoutMs: 100 });
  try {
    g.activate();
    const bad = ['CONNECT\n', 'CONNECT 4294967296\n', 'connect 5\n', 'CONNECT 5 6\n', 'CONNECT -1\n', 'HELLO\n',
      `CONNECT ${'1'.repeat(40)}`, `CONNECT 5${' '.repeat(40)}\n`];
    const hosts = bad.map((line) => HostEnd.connect(g.socket, line));
    const silent = HostEnd.connect(g.socket); // never sends a line: the timeout closes it
    await until(() => hosts.every((h) => h.ended) && silent.ended, 'all closed');
    assert.ok(hosts.every((h) => h.text === ''));
    assert.equal(g.dev.counters().hostErrors, bad.length + 1);
    assert.equal(g.dev.counters().connectionsTotal, 0);
    assert.equal(g.inbox.length, 0);
  } finally { g.close(); }
});

test('guest REQUEST to CID 2 port P reaches <socket>_P; RESPONSE, then bytes both ways', async () => {
  const g = new TestGuest();
  const accepted: HostEnd[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => accepted.push(new HostEnd(s)));
  try {
    server.listen(`${g.socket}_5000`);
    g.activate();
    g.send({ op: OP.REQUEST, srcPort: 40000, dstPort: 5000, bufAlloc: 65536 });
    const resp = await g.next((p) => p.op === OP.RESPONSE, 'RESPONSE');
    assert.deepEqual([resp.srcCid, resp.dstCid, resp.srcPort, resp.dstPort], [2n, 3n, 5000, 40000]);
    await until(() => accepted.length === 1, 'accept');
    g.send({ op: OP.RW, srcPort: 40000, dstPort: 5000 }, Buffer.from('hello host'));
    await until(() => accepted[0]!.text === 'hello host', 'data at the host');
    accepted[0]!.sock.write('hello guest');
    const rw = await g.next((p) => p.op === OP.RW, 'data at the guest');
    assert.equal(rw.payload.toString(), 'hello guest');
  } finally {
    g.close();
    server.close();
  }
});

test('guest REQUEST to a port with no host listener gets an RST', async () => {
  const g = new TestGuest();
  try {
    g.activate();
    g.send({ op: OP.REQUEST, srcPort: 40001, dstPort: 6000 });
    const rst = await g.next((p) => p.op === OP.RST, 'RST');
    assert.deepEqual([rst.srcPort, rst.dstPort], [6000, 40001]);
    assert.equal(g.dev.counters().connectFailures, 1);
    assert.equal(g.dev.counters().connectionsOpen, 0);
  } finally { g.close(); }
});

test('a socket path that already exists is refused; close removes the one we made', () => {
  const g = new TestGuest();
  try {
    assert.throws(() => new VsockDevice({ cid: 3, socket: g.socket }), /already exists/);
    g.dev.close();
    assert.equal(fs.existsSync(g.socket), false);
  } finally { g.close(); }
});
