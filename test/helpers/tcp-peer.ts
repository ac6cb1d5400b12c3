// The host end of the user-space suite's TCP check, run as its own process inside the test's network namespace:
//   node tcp-peer.js HOST_IP SINK_PORT SOURCE_PORT SOURCE_BYTES
// SINK_PORT takes one connection, reads to its end, answers "<sha256> <bytes>" and closes. SOURCE_PORT takes one
// connection and sends SOURCE_BYTES of seeded pseudo-random data, then closes. Each prints one JSON line on stdout
// when done ({"ready":true} first), and the process ends when both are.
import * as crypto from 'node:crypto';
import * as net from 'node:net';

const [hostIp, sinkPort, sourcePort, sourceBytes] = process.argv.slice(2);
const say = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
let open = 2;
const closeOne = (server: net.Server): void => {
  server.close();
  if (--open === 0) process.exitCode = 0;
};

const sink = net.createServer((sock) => {
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  sock.on('data', (d: Buffer) => { hash.update(d); bytes += d.length; });
  sock.on('end', () => {
    const sha = hash.digest('hex');
    sock.end(`${sha} ${bytes}\n`);
    say({ sink: { sha256: sha, bytes } });
    closeOne(sink);
  });
  sock.on('error', (e) => say({ sink: { error: e.message } }));
});

const source = net.createServer((sock) => {
  const total = Number(sourceBytes);
  const hash = crypto.createHash('sha256');
  // A counter-mode stream from a fixed key: incompressible, reproducible, and cheap to make.
  const cipher = crypto.createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0));
  let sent = 0;
  const more = (): void => {
    while (sent < total) {
      const chunk = cipher.update(Buffer.alloc(Math.min(1 << 16, total - sent)));
      hash.update(chunk);
      sent += chunk.length;
      if (!sock.write(chunk)) return void sock.once('drain', more);
    }
    sock.end();
    say({ source: { sha256: hash.digest('hex'), bytes: sent } });
    closeOne(source);
  };
  sock.on('error', (e) => say({ source: { error: e.message } }));
  more();
});

let listening = 0;
const up = (): void => { if (++listening === 2) say({ ready: true }); };
sink.listen(Number(sinkPort), hostIp, up);
source.listen(Number(sourcePort), hostIp, up);
