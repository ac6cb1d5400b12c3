// How connections end: SHUTDOWN both ways, the host closing, device reset, machine close.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { test } from 'node:test';
import { OP, SHUTDOWN_BOTH, SHUTDOWN_RCV, SHUTDOWN_SEND } from '../../../src/devices/vsock/packet';
import { HostEnd } from '../../helpers/vsock-host';
import { until } from '../../helpers/wait';
import { openFromHost, TestGuest } from './test-guest';

test('half-closes pass through: guest SHUTDOWN(SEND) is EOF at the host, host EOF is SHUTDOWN(SEND) at the guest', async () => {
  const g = new TestGuest();
  try {
    g.activate();
    const { host, hostPort } = await openFromHost(g, 100);
    const ids = { srcPort: 100, dstPort: hostPort };
    g.send({ op: OP.RW, ...ids }, Buffer.from('last words'));
    g.send({ op: OP.SHUTDOWN, ...ids, flags: SHUTDOWN_SEND });
    await until(() => host.ended, 'EOF at the host');
    assert.equal(host.afterOk.toString(), 'last words');
    // The other direction still works.
    host.sock.write('reply');
    host.sock.end();
    const rw = await g.next((p) => p.op === OP.RW, 'reply');
    assert.equal(rw.payload.toString(), 'reply');
    // Both halves closed: the host socket is gone, so the guest hears SHUTDOWN for both and answers with RST.
    const sd = await g.next((p) => p.op === OP.SHUTDOWN && (p.flags & SHUTDOWN_RCV) !== 0, 'SHUTDOWN(RCV|SEND)');
    assert.equal(sd.flags, SHUTDOWN_BOTH);
    g.send({ op: OP.RST, ...ids });
    await until(() => g.dev.counters().connectionsOpen === 0, 'connection gone');
    assert.equal(g.dev.counters().resetsSent, 0);
  } finally { g.close(); }
});

test('the host gone for good: SHUTDOWN of both; without the guest\'s RST the device sends one after the timeout', async () => {
  const g = new TestGuest({ shutdownTimeoutMs: 100 });
  try {
    g.activate();
    const { host, hostPort } = await openFromHost(g, 101);
    const ids = { srcPort: 101, dstPort: hostPort };
    host.sock.end('bye', () => host.sock.destroy());
    const rw = await g.next((p) => p.op === OP.RW, 'bye');
    assert.equal(rw.payload.toString(), 'bye');
    const eof = await g.next((p) => p.op === OP.SHUTDOWN, 'SHUTDOWN(SEND)');
    assert.equal(eof.flags, SHUTDOWN_SEND);
    await until(() => host.closed, 'host closed');
    // The guest writes on; the host socket is gone (EPIPE), so the device shuts the connection down.
    g.send({ op: OP.RW, ...ids }, Buffer.from('anyone?'));
    const both = await g.next((p) => p.op === OP.SHUTDOWN, 'SHUTDOWN(RCV|SEND)');
    assert.equal(both.flags, SHUTDOWN_BOTH);
    // The guest keeps quiet: the device gives up on it.
    const rst = await g.next((p) => p.op === OP.RST, 'RST');
    assert.deepEqual([rst.srcPort, rst.dstPort], [hostPort, 101]);
    assert.equal(g.dev.counters().shutdownTimeouts, 1);
    assert.equal(g.dev.counters().connectionsOpen, 0);
  } finally { g.close(); }
});

test('guest SHUTDOWN of both directions: its data reaches the host, the host sees EOF, the guest gets RST', async () => {
  const g = new TestGuest();
  try {
    g.activate();
    const { host, hostPort } = await openFromHost(g, 102);
    const ids = { srcPort: 102, dstPort: hostPort };
    g.queueTx({ op: OP.RW, ...ids }, Buffer.alloc(60_000, 7));
    g.queueTx({ op: OP.SHUTDOWN, ...ids, flags: SHUTDOWN_BOTH });
    g.kickTx();
    await g.next((p) => p.op === OP.RST, 'RST');
    await until(() => host.ended, 'EOF at the host');
    assert.ok(host.afterOk.equals(Buffer.alloc(60_000, 7)));
    assert.equal(g.dev.counters().connectionsOpen, 0);
  } finally { g.close(); }
});

test('guest RST ends the connection; the host program sees EOF', async () => {
  const g = new TestGuest();
  try {
    g.activate();
    const { host, hostPort } = await openFromHost(g, 103);
    g.send({ op: OP.RST, srcPort: 103, dstPort: hostPort });
    await until(() => host.ended, 'EOF at the host');
    assert.equal(g.dev.counters().connectionsOpen, 0);
  } finally { g.close(); }
});

test('a device reset drops every connection; the listener stays for the next driver', async () => {
  const g = new TestGuest();
  const accepted: HostEnd[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => accepted.push(new HostEnd(s)));
  try {
    server.listen(`${g.socket}_8000`);
    g.activate();
    const a = await openFromHost(g, 104);
    const b = await openFromHost(g, 105);
    g.send({ op: OP.REQUEST, srcPort: 60000, dstPort: 8000 });
    await until(() => accepted.length === 1, 'guest connection accepted');
    const pending = HostEnd.connect(g.socket, 'CONNECT 106\n');
    await g.next((p) => p.op === OP.REQUEST && p.dstPort === 106, 'REQUEST');
    assert.equal(g.dev.counters().connectionsOpen, 4);
    g.dev.reset();
    await until(() => a.host.ended && b.host.ended && pending.ended && accepted[0]!.ended, 'every host end closed');
    assert.equal(g.dev.counters().connectionsOpen, 0);
    g.inbox.length = 0;
    g.activate();
    await openFromHost(g, 107);
    assert.equal(g.dev.counters().connectionsOpen, 1);
  } finally {
    g.close();
    server.close();
  }
});

function openFds(): number { return fs.readdirSync('/proc/self/fd').length; }

test('close leaves no fds behind and removes the socket file', async () => {
  const accepted: HostEnd[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => accepted.push(new HostEnd(s)));
  const before = openFds();
  const g = new TestGuest();
  const hosts: HostEnd[] = [];
  try {
    server.listen(`${g.socket}_9000`);
    g.activate();
    for (let i = 0; i < 8; i++) hosts.push((await openFromHost(g, 200 + i)).host);
    hosts.push(HostEnd.connect(g.socket)); // a handshake in progress
    for (let i = 0; i < 4; i++) g.send({ op: OP.REQUEST, srcPort: 61000 + i, dstPort: 9000 });
    await until(() => accepted.length === 4, 'accepted');
    assert.ok(openFds() > before + 20);
  } finally {
    g.close();
  }
  assert.equal(fs.existsSync(g.socket), false);
  await until(() => hosts.every((h) => h.ended) && accepted.every((h) => h.ended), 'EOF at every host end');
  for (const h of [...hosts, ...accepted]) h.sock.destroy();
  server.close();
  await until(() => openFds() === before, `fds back to ${before} (now ${openFds()})`);
});

test('a clone restored with a new CID takes the snapshot\'s CID from the guest until the guest uses the new one', async (t) => {
  const g = new TestGuest({ cid: 42 });
  t.after(() => g.close());
  g.dev.restoreState({ cid: '3' });
  g.activate();
  // The guest has not handled the transport reset yet: its answer to the host still says cid 3.
  const host = HostEnd.connectTo(g.socket, 1234);
  const req = await g.next((p) => p.op === OP.REQUEST && p.dstPort === 1234, 'REQUEST for 1234');
  assert.equal(req.dstCid, 42n, 'the host side already addresses the new CID');
  g.send({ op: OP.RESPONSE, srcCid: 3n, srcPort: 1234, dstPort: req.srcPort });
  assert.equal(await host.handshake, req.srcPort);
  assert.equal(g.dev.counters().errors, 0);
  // Once a packet comes from the new CID, the old one is a stranger again.
  g.send({ op: OP.CREDIT_UPDATE, srcCid: 42n, srcPort: 1234, dstPort: req.srcPort });
  g.send({ op: OP.CREDIT_UPDATE, srcCid: 3n, srcPort: 1234, dstPort: req.srcPort });
  await until(() => g.dev.counters().errors === 1, 'the stale-CID packet dropped', 5000);
  assert.throws(() => g.dev.restoreState({ cid: 'x' }), /cid is "x"/);
  host.sock.destroy();
});
