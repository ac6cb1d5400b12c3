// Positioned vectored I/O and syncs on libuv's thread pool, as promises. The buffers are views the caller took of
// guest memory: data moves between the file and the guest's own pages with no copy through JavaScript.
import * as fs from 'node:fs';

export const readv = (fd: number, bufs: Uint8Array[], pos: number): Promise<number> =>
  new Promise((resolve, reject) => fs.readv(fd, bufs, pos, (err, n) => (err ? reject(err) : resolve(n))));

export const writev = (fd: number, bufs: Uint8Array[], pos: number): Promise<number> =>
  new Promise((resolve, reject) => fs.writev(fd, bufs, pos, (err, n) => (err ? reject(err) : resolve(n))));

export const fdatasync = (fd: number): Promise<void> =>
  new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));

export const fsync = (fd: number): Promise<void> =>
  new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
