// virtio-vsock from the tiny test kernel on tsvmm: the guest listens and echoes; host programs connect through the
// device's unix socket, send MiB of pseudo-random bytes on several connections at once (each many times the
// credit the guest advertises) and read them back; a CONNECT to a port nobody listens on is closed; and the guest
// connects to a host echo server on `<socket>_<port>` and checks what comes back.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dataWith, numberField } from '../../src/guest/test-kernel-output';
import { FNV1A_INIT, fnv1aHex, fnv1aUpdate, type Fnv1a } from '../helpers/fnv';
import { kvmUnavailable } from '../helpers/kvm';
import { runTiny, type TinyRun } from '../helpers/tiny';
import { HostEnd } from '../helpers/vsock-host';
import { until } from '../helpers/wait';

const skip = kvmUnavailable();
const CID = 7;
const PORT = 1234;
const CLOSED_PORT = 4321;
const HOST_PORT = 7000;
const BUF_ALLOC = 64 * 1024;
const MiB = 1024 * 1024;
/** One large transfer and three smaller ones, all at once. */
const SIZES = [8 * MiB, 2 * MiB, 1 * MiB, 512 * 1024 + 17];
const CLIENT_BYTES = 2 * MiB + 5;
/** Each test; the guest gives up after 60 s (15 s in the second) with nothing moving. */
const LIMIT = { timeout: 120_000 };
/** The longest the host waits for one line from the guest. */
const WAIT_MS = 30_000;

/**
 * Connects, sends `data` (the first `early` bytes with the CONNECT line), and resolves with the echo. With
 * `readAfter`, nothing is read until it resolves, so credit runs out both ways.
 */
async function echoThrough(socket: string, data: Buffer, early = 0,
  readAfter?: (hostPort: number) => Promise<void>): Promise<{ conn: HostEnd; got: Buffer; ms: number }> {
  const conn = HostEnd.connectTo(socket, PORT, data.subarray(0, early));
  const hostPort = await conn.handshake;
  if (hostPort === null) throw new Error('the guest closed a connection to the port it listens on');
  if (readAfter) {
    conn.sock.pause();
    void readAfter(hostPort).then(() => conn.sock.resume());
  }
  await conn.send(data.subarray(early));
  const got = await conn.received();
  return { conn, got, ms: Date.now() - conn.started };
}

/** What was seen, for the log: the guest's data lines and the device's counters. */
function report(r: TinyRun, what: string): void {
  const data = r.text.split('\n').filter((l) => l.startsWith('TSVMM-DATA')).join('\n');
  process.stderr.write(`tiny vsock: ${what}\n${data}\ndevice ${JSON.stringify(r.devices[0])}\n`);
}

function checkDeviceClean(dev: Record<string, number>): void {
  for (const counter of ['errors', 'connectTimeouts', 'shutdownTimeouts', 'resetsDropped', 'failures', 'badAccesses']) {
    assert.equal(dev[counter], 0, `device counter ${counter}`);
  }
  assert.equal(dev.connectionsOpen, 0);
}

/** The host program the guest connects to: echoes, hashes what it saw, and ends when the guest does. */
function echoServer(file: string): { server: net.Server; seen: { bytes: number; hash: Fnv1a; closed: number } } {
  const seen = { bytes: 0, hash: FNV1A_INIT, closed: 0 };
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (c: Buffer) => {
      seen.bytes += c.length;
      seen.hash = fnv1aUpdate(seen.hash, c);
      s.write(c);
    });
    s.on('end', () => s.end());
    s.on('close', () => { seen.closed++; });
    s.on('error', () => {});
  });
  server.listen(file);
  return { server, seen };
}

describe('tiny test kernel: virtio-vsock echo on tsvmm', { skip, timeout: 240_000 }, () => {
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-tiny-vsock-')); });
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  it('echoes MiB on several connections within credit, refuses a closed port, and connects out', LIMIT, async () => {
    const socket = path.join(dir, 'v.sock');
    const { server, seen } = echoServer(`${socket}_${HOST_PORT}`);
    const sent = SIZES.map((n) => randomBytes(n));
    let echoed: Awaited<ReturnType<typeof echoThrough>>[] = [];
    let refusedPort: number | null | undefined;
    const started = Date.now();
    try {
      const r = await runTiny({
        cmdline: `test=vsock vsock_cid=${CID} vsock_port=${PORT} vsock_conns=${SIZES.length} vsock_buf=${BUF_ALLOC} ` +
          `vsock_connect=${HOST_PORT} vsock_connect_bytes=${CLIENT_BYTES}`,
        devices: [{ type: 'vsock', cid: CID, socket }],
        timeoutMs: 100_000,
        during: async (_m, output) => {
          await output.waitFor('TSVMM-DATA: vsock listening=', WAIT_MS);
          refusedPort = await HostEnd.connectTo(socket, CLOSED_PORT).handshake;
          // The first one reads nothing until the guest says it is blocked both ways; the second one sends its
          // first bytes with the CONNECT line.
          const blocked = async (port: number): Promise<void> => {
            await output.waitFor(`TSVMM-DATA: vsock blocked=${port}\n`, WAIT_MS);
          };
          echoed = await Promise.all(sent.map((data, i) =>
            echoThrough(socket, data, i === 1 ? 1000 : 0, i === 0 ? blocked : undefined)));
        },
      });
      report(r, `${Date.now() - started} ms in all; echoes ${echoed.map((e, i) => `${sent[i]!.length} B in ${e.ms} ms`)
        .join(', ')}`);
      assert.deepEqual(r.verdict, { test: 'vsock', passed: true }, r.text);

      assert.equal(refusedPort, null, 'a CONNECT to a port nobody listens on is closed without OK');
      assert.ok(r.text.includes(`TSVMM-DATA: vsock blocked=${echoed[0]!.conn.hostPort}\n`));
      for (const [i, e] of echoed.entries()) {
        assert.equal(e.got.length, sent[i]!.length, `connection ${i}: bytes echoed`);
        assert.ok(e.got.equals(sent[i]!), `connection ${i}: the echo differs from what was sent`);
      }
      const conns = dataWith(r, 'conn', 'received', 'echoed');
      assert.equal(conns.length, SIZES.length);
      for (const [i, e] of echoed.entries()) {
        const line = conns.find((c) => numberField(c, 'conn') === e.conn.hostPort);
        assert.ok(line, `a data line for host port ${e.conn.hostPort}`);
        assert.equal(numberField(line, 'received'), sent[i]!.length);
        assert.equal(numberField(line, 'echoed'), sent[i]!.length);
        assert.equal(line.fnv1a, fnv1aHex(fnv1aUpdate(FNV1A_INIT, sent[i]!)));
        assert.equal(line.end, 'shutdown');
      }

      const [client] = dataWith(r, 'client', 'sent', 'received');
      assert.ok(client, 'the guest-initiated connection reported');
      assert.equal(numberField(client, 'client'), HOST_PORT);
      assert.equal(numberField(client, 'sent'), CLIENT_BYTES);
      assert.equal(numberField(client, 'received'), CLIENT_BYTES);
      assert.equal(seen.bytes, CLIENT_BYTES);
      assert.equal(client.fnv1a, fnv1aHex(seen.hash));
      await until(() => seen.closed === 1, 'the host echo server\'s connection to close', 5_000, { everyMs: 10 });

      const [summary] = dataWith(r, 'connections', 'refused', 'credit_full');
      assert.ok(summary, r.text);
      assert.equal(numberField(summary, 'connections'), SIZES.length);
      assert.equal(numberField(summary, 'refused'), 1);
      // The blocked connection ran out of the host's credit at least once, and its ring filled many times.
      assert.ok(numberField(summary, 'host_stalls') >= 1);
      assert.ok(numberField(summary, 'credit_full') >= 1);
      const totalEchoed = SIZES.reduce((a, b) => a + b, 0);

      const dev = r.devices[0]!;
      checkDeviceClean(dev);
      assert.equal(dev.hostErrors, 0);
      assert.equal(dev.connectFailures, 0);
      // Every connection the host opened, the refused one and the guest's own.
      assert.equal(dev.connectionsTotal, SIZES.length + 2);
      // The refused CONNECT and each echo connection end with the guest's RST. The guest's own connection ends
      // with the device's RST, or with the guest's when the device's SHUTDOWN came first (the guest says which).
      assert.equal(dev.resetsReceived, SIZES.length + 1 + (client.end === 'rst' ? 0 : 1));
      // Payload both ways: every echoed byte, plus the guest connection's bytes each way.
      assert.equal(dev.txBytes, totalEchoed + CLIENT_BYTES);
      assert.equal(dev.rxBytes, totalEchoed + CLIENT_BYTES);
    } finally {
      server.close();
    }
  });

  it('fills its table, echoes through tiny buffers, outlives a host abort, is refused, quits', LIMIT, async () => {
    const socket = path.join(dir, 'w.sock');
    const TABLE = 8;
    const sent = Array.from({ length: TABLE }, (_, i) => randomBytes(i === 0 ? 100_000 : 200_000 + i * 4099));
    let ports: (number | null)[] = [];
    let fullPort: number | null | undefined;
    let echoes: Buffer[] = [];
    let quit: Buffer | undefined;
    const r = await runTiny({
      // 4 KiB of credit, 1 KiB rx buffers, 1000-byte packets: every MiB is hundreds of credit round trips.
      // It also connects to a host port nobody listens on.
      cmdline: `test=vsock vsock_cid=${CID} vsock_port=${PORT} vsock_buf=4K vsock_rx_buf=1K vsock_rx_count=16 ` +
        `vsock_pkt=1000 vsock_refused=${HOST_PORT} vsock_wait_ms=15000`,
      devices: [{ type: 'vsock', cid: CID, socket }],
      timeoutMs: 100_000,
      during: async (_m, output) => {
        await output.waitFor('TSVMM-DATA: vsock listening=', WAIT_MS);
        // The guest's own connection holds a table entry until the device's RST for it arrives.
        await output.waitFor(`TSVMM-DATA: vsock refused_by_host=${HOST_PORT}\n`, WAIT_MS);
        const conns = sent.map((data, i) => HostEnd.connectTo(socket, PORT, i % 2 ? data.subarray(0, 300) : undefined));
        ports = await Promise.all(conns.map((c) => c.handshake));
        assert.ok(ports.every((p) => p !== null), 'the table\'s eight connections are accepted');
        fullPort = await HostEnd.connectTo(socket, PORT).handshake;
        // The first one sends, then goes away without reading or half-closing.
        const aborted = conns[0]!;
        aborted.sock.write(sent[0]!, () => aborted.sock.destroy());
        echoes = await Promise.all(conns.slice(1).map(async (c, i) => {
          await c.send(sent[i + 1]!.subarray(i % 2 ? 0 : 300));
          return c.received();
        }));
        await output.waitFor(`TSVMM-DATA: vsock conn=${aborted.hostPort} `, WAIT_MS);
        const q = HostEnd.connectTo(socket, PORT);
        await q.handshake;
        await q.send(Buffer.from('quit\n'));
        quit = await q.received();
      },
    });
    report(r, 'tiny buffers');
    assert.deepEqual(r.verdict, { test: 'vsock', passed: true }, r.text);
    assert.equal(fullPort, null, 'a ninth connection is refused while the table is full');
    for (const [i, got] of echoes.entries()) assert.ok(got.equals(sent[i + 1]!), `connection ${i + 1}: echo differs`);
    assert.equal(quit?.toString(), 'quit\n');

    const conns = dataWith(r, 'conn', 'received', 'echoed');
    assert.equal(conns.length, TABLE + 1);
    const abortedLine = conns.find((c) => numberField(c, 'conn') === ports[0]);
    assert.ok(abortedLine);
    assert.ok(numberField(abortedLine, 'received') <= sent[0]!.length);
    assert.equal(abortedLine.end, 'shutdown');
    const [summary] = dataWith(r, 'connections', 'refused');
    assert.equal(numberField(summary!, 'connections'), TABLE + 1);
    assert.equal(numberField(summary!, 'refused'), 1);
    assert.equal(numberField(dataWith(r, 'refused_by_host')[0]!, 'refused_by_host'), HOST_PORT);

    const dev = r.devices[0]!;
    checkDeviceClean(dev);
    // The table's eight, the refused ninth, "quit", and the guest's connection to a port nobody listens on.
    assert.equal(dev.connectionsTotal, TABLE + 3);
    assert.equal(dev.connectFailures, 1);
    assert.equal(dev.resetsSent, 1);
    // Every connection the host opened, the aborted one included, and the refusal end with the guest's RST.
    assert.equal(dev.resetsReceived, TABLE + 2);
  });
});
