// A small, independent reader of newc cpio archives for the writer's tests: it follows the format description
// (110-byte header, name and data padded to 4 bytes, TRAILER!!! at the end), not the writer's code.

export interface NewcRecord {
  name: string;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  rdevMajor: number;
  rdevMinor: number;
  check: number;
  data: Buffer;
  /** Offset of the header in the archive. */
  offset: number;
}

const FIELDS = ['ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'filesize', 'devmajor', 'devminor', 'rdevmajor',
  'rdevminor', 'namesize', 'check'] as const;

export function readNewc(archive: Buffer): NewcRecord[] {
  const records: NewcRecord[] = [];
  let at = 0;
  for (;;) {
    const magic = archive.toString('ascii', at, at + 6);
    if (magic !== '070701') throw new Error(`bad magic ${JSON.stringify(magic)} at ${at}`);
    const f: Record<string, number> = {};
    FIELDS.forEach((name, i) => {
      const text = archive.toString('ascii', at + 6 + i * 8, at + 14 + i * 8);
      if (!/^[0-9A-Fa-f]{8}$/.test(text)) throw new Error(`field ${name} is not hex: ${text}`);
      f[name] = parseInt(text, 16);
    });
    const nameStart = at + 110;
    const nameBytes = archive.subarray(nameStart, nameStart + f.namesize!);
    if (nameBytes[nameBytes.length - 1] !== 0) throw new Error(`name at ${at} is not NUL-terminated`);
    const name = nameBytes.subarray(0, -1).toString('utf8');
    const dataStart = align4(nameStart + f.namesize!);
    const data = archive.subarray(dataStart, dataStart + f.filesize!);
    if (name === 'TRAILER!!!') {
      if (align4(dataStart) !== archive.length) throw new Error('bytes after the trailer');
      return records;
    }
    records.push({
      name, ino: f.ino!, mode: f.mode!, uid: f.uid!, gid: f.gid!, nlink: f.nlink!, mtime: f.mtime!,
      rdevMajor: f.rdevmajor!, rdevMinor: f.rdevminor!, check: f.check!, data: Buffer.from(data), offset: at,
    });
    at = align4(dataStart + f.filesize!);
    if (at >= archive.length) throw new Error('archive ends without TRAILER!!!');
  }
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
