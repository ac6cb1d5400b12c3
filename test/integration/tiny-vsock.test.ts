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
import { runTiny } from '../helpers/tiny';

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

async function until(cond: () => boolean, what: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Echoed { hostPort: number; got: Buffer; ms: number }

/**
 * CONNECT to the guest's port, send `data` in uneven writes as fast as the socket takes them, half-close, and read
 * until the end: the `OK <port>` line, then the echo.
 */
function echoThrough(socket: string, data: Buffer): Promise<Echoed> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const s = net.createConnection({ path: socket, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let hostPort = -1;
    let head = Buffer.alloc(0);
    s.on('error', reject);
    s.on('data', (c: Buffer) => {
      if (hostPort >= 0) { chunks.push(c); return; }
      head = Buffer.concat([head, c]);
      const nl = head.indexOf(0x0a);
      if (nl < 0) return;
      const m = /^OK (\d+)$/.exec(head.subarray(0, nl).toString('latin1'));
      if (!m) { reject(new Error(`handshake answered ${JSON.stringify(head.toString('latin1'))}`)); return; }
      hostPort = Number(m[1]);
      chunks.push(head.subarray(nl + 1));
      void send();
    });
    s.on('end', () => resolve({ hostPort, got: Buffer.concat(chunks), ms: Date.now() - start }));
    const send = async (): Promise<void> => {
      for (let at = 0, n = 1; at < data.length; at += n, n = (n * 7 + 4093) % 65_521 + 1) {
        if (!s.write(data.subarray(at, at + n))) await new Promise((r) => s.once('drain', r));
      }
      s.end();
    };
    s.write(`CONNECT ${PORT}\n`);
  });
}

/** CONNECT to a port the guest does not listen on: the socket should end with no OK line. */
function refused(socket: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ path: socket });
    let text = '';
    s.on('data', (c: Buffer) => { text += c.toString('latin1'); });
    s.on('error', reject);
    s.on('close', () => resolve(text));
    s.write(`CONNECT ${port}\n`);
  });
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

  it('echoes MiB on several connections within credit, refuses a closed port, and connects out', async () => {
    const socket = path.join(dir, 'v.sock');
    const { server, seen } = echoServer(`${socket}_${HOST_PORT}`);
    const sent = SIZES.map((n) => randomBytes(n));
    let echoed: Echoed[] = [];
    let refusedText: string | undefined;
    const started = Date.now();
    try {
      const r = await runTiny({
        cmdline: `test=vsock vsock_cid=${CID} vsock_port=${PORT} vsock_conns=${SIZES.length} vsock_buf=${BUF_ALLOC} ` +
          `vsock_connect=${HOST_PORT} vsock_connect_bytes=${CLIENT_BYTES}`,
        devices: [{ type: 'vsock', cid: CID, socket }],
        timeoutMs: 200_000,
        during: async (_m, output) => {
          await until(() => output().includes('TSVMM-DATA: vsock listening='), 'the guest to listen', 30_000);
          refusedText = await refused(socket, CLOSED_PORT);
          echoed = await Promise.all(sent.map((data) => echoThrough(socket, data)));
        },
      });
      process.stderr.write(`tiny vsock: ${Date.now() - started} ms in all; echoes ${echoed.map((e, i) =>
        `${sent[i]!.length} B in ${e.ms} ms`).join(', ')}\n${r.text.split('\n').filter((l) => l.startsWith('TSVMM-DATA'))
        .join('\n')}\ndevice ${JSON.stringify(r.devices[0])}\n`);
      assert.deepEqual(r.verdict, { test: 'vsock', passed: true }, r.text);

      assert.equal(refusedText, '', 'a CONNECT to a port nobody listens on is closed without OK');
      for (const [i, e] of echoed.entries()) {
        assert.equal(e.got.length, sent[i]!.length, `connection ${i}: bytes echoed`);
        assert.ok(e.got.equals(sent[i]!), `connection ${i}: the echo differs from what was sent`);
      }
      const conns = dataWith(r, 'conn', 'received', 'echoed');
      assert.equal(conns.length, SIZES.length);
      for (const [i, e] of echoed.entries()) {
        const line = conns.find((c) => numberField(c, 'conn') === e.hostPort);
        assert.ok(line, `a data line for host port ${e.hostPort}`);
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
      await until(() => seen.closed === 1, 'the host echo server\'s connection to close', 5_000);

      const [summary] = dataWith(r, 'connections', 'refused', 'credit_full');
      assert.ok(summary, r.text);
      assert.equal(numberField(summary, 'connections'), SIZES.length);
      assert.equal(numberField(summary, 'refused'), 1);
      const totalEchoed = SIZES.reduce((a, b) => a + b, 0);

      const dev = r.devices[0]!;
      for (const counter of ['errors', 'hostErrors', 'connectFailures', 'connectTimeouts', 'shutdownTimeouts',
        'resetsDropped']) {
        assert.equal(dev[counter], 0, `device counter ${counter}`);
      }
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
});
