// One virtio-blk write request against an existing image, in a process of its own so that a file-size limit
// (RLIMIT_FSIZE, set by whoever starts it) reaches the device's writes and nothing else. Node ignores SIGXFSZ, so
// a write past the limit fails with EFBIG instead of killing the process.
// Usage: node blk-limited-write.js IMAGE BYTES; prints {"status": N} on stdout.
import { BIG, HDR, STATUS, T, setup } from './blk-harness';
import { F_WRITE } from '../virtio-mmio/mock-driver';

async function main(): Promise<void> {
  const [file, size] = process.argv.slice(2);
  const bytes = Number(size);
  const s = setup({}, 0n, { file: file!, mem: BIG + bytes });
  try {
    s.d.mem.fill(BIG, bytes, 0x5a);
    s.header(T.OUT, 0);
    const status = await s.submit([
      { addr: HDR, len: 16, flags: 0 }, { addr: BIG, len: bytes, flags: 0 }, { addr: STATUS, len: 1, flags: F_WRITE },
    ]);
    process.stdout.write(JSON.stringify({ status }));
  } finally { s.cleanup(); }
}

void main();
