// What a sandbox boots from: the `image` option is an initramfs (the kernel unpacks it; its init runs the agent) or
// an ext4 root image (`tsvmm image build`: the agent is /sbin/tsvmm-agent, the kernel's init). An ext4 image is a
// virtio-blk disk attached read-only, so one image serves any number of sandboxes at once; the agent, as PID 1 on
// a read-only root, puts tmpfs on /tmp, /run and /var/tmp.
import * as fs from 'node:fs';
import { ConfigError } from '../vmm/config-check';

export type ImageKind = 'ext4' | 'initramfs';

export interface SandboxImage {
  kind: ImageKind;
  path: string;
}

/** The kernel command line an ext4 root adds: the disk, read-only, and the agent as init. */
export const EXT4_ROOT_CMDLINE = 'root=/dev/vda ro rootfstype=ext4 init=/sbin/tsvmm-agent';

const EXT_MAGIC_OFFSET = 1080;
const EXT_MAGIC = 0xef53;
const HEAD_BYTES = EXT_MAGIC_OFFSET + 2;

/** Initramfs formats the kernel takes: newc cpio, and the compressions it can unpack. */
const INITRAMFS_MAGICS: readonly (readonly number[])[] = [
  [0x30, 0x37, 0x30, 0x37, 0x30], // "07070": newc (070701), crc (070702), odc (070707)
  [0x1f, 0x8b], // gzip
  [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], // xz
  [0x28, 0xb5, 0x2f, 0xfd], // zstd
  [0x42, 0x5a, 0x68], // bzip2
  [0x02, 0x21, 0x4c, 0x18], // lz4 legacy
  [0x5d, 0x00, 0x00], // lzma
  [0x89, 0x4c, 0x5a, 0x4f], // lzo
];

/** The kind of image whose first bytes are `head` (at least 1082 of them for ext4), or undefined. */
export function imageKindOf(head: Uint8Array): ImageKind | undefined {
  if (head.length >= HEAD_BYTES && (head[EXT_MAGIC_OFFSET]! | (head[EXT_MAGIC_OFFSET + 1]! << 8)) === EXT_MAGIC) return 'ext4';
  if (INITRAMFS_MAGICS.some((m) => m.length <= head.length && m.every((b, i) => head[i] === b))) return 'initramfs';
  return undefined;
}

/** Reads the start of `file` and says what it is; ConfigError naming `image` when it is neither or unreadable. */
export function detectSandboxImage(file: string): SandboxImage {
  const head = Buffer.alloc(HEAD_BYTES);
  let got: number;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      if (!fs.fstatSync(fd).isFile()) throw new ConfigError('image', `${file} is not a regular file`);
      got = fs.readSync(fd, head, 0, HEAD_BYTES, 0);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError('image', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const kind = imageKindOf(head.subarray(0, got));
  if (kind === undefined) {
    throw new ConfigError('image', `${file} is neither an ext4 root image (tsvmm image build) nor an initramfs (cpio)`);
  }
  return { kind, path: file };
}
