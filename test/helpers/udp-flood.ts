// A UDP sender for a guest's receive benchmark: `node udp-flood.js <ip> <port> <payload bytes> [count]` sends
// datagrams as fast as it can (each payload starts with a 64-bit little-endian sequence number from 0, which the
// guest uses to count losses) until it has sent `count`, gets SIGTERM or its stdin ends, then prints
// `{"sent":N,"errors":E}`.
import * as dgram from 'node:dgram';

const BURST = 64;

function main(argv: string[]): void {
  const [ip, portText, sizeText, countText] = argv;
  const port = Number(portText);
  const size = Number(sizeText);
  const count = countText === undefined ? Infinity : Number(countText);
  if (!ip || !(port > 0 && port < 65536) || !(size >= 8 && size <= 65507) || !(count > 0)) {
    process.stderr.write('usage: udp-flood <ip> <port> <payload bytes, 8 or more> [count]\n');
    process.exit(2);
  }
  const socket = dgram.createSocket('udp4');
  const rest = Buffer.alloc(size - 8);
  for (let i = 0; i < rest.length; i++) rest[i] = (i * 13 + 5) & 0xff;
  let sent = 0;
  let errors = 0;
  let stopping = false;
  const finish = (): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${JSON.stringify({ sent, errors })}\n`);
    socket.close();
    process.stdin.destroy();
  };
  // A full tap queue drops datagrams on the host; the socket only reports buffer shortages (ENOBUFS).
  const done = (e: Error | null): void => { if (e) errors++; };
  const pump = (): void => {
    for (let i = 0; i < BURST && sent < count && !stopping; i++) {
      const seq = Buffer.alloc(8);
      seq.writeBigUInt64LE(BigInt(sent++));
      socket.send([seq, rest], port, ip, done);
    }
    if (sent >= count) finish();
    else if (!stopping) setImmediate(pump);
  };
  process.on('SIGTERM', finish);
  // The parent holds stdin open; when it dies without stopping this sender, the pipe ends and so does the flood.
  process.stdin.on('end', finish);
  process.stdin.resume();
  socket.on('error', () => { errors++; });
  pump();
}

if (require.main === module) main(process.argv.slice(2));
