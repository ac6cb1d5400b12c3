// The host's half of the Linux user-space suite: what it prepares before the guest boots (an ext4 image, a shared
// folder with a secret beside it, a vsock listener, a TCP peer), and how it checks afterwards what the guest did to them.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { OutputWatch } from '../helpers/wait';

export const SECRET = `SECRET-${crypto.randomBytes(8).toString('hex')}`;
export const sha256 = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

/** A 64 MiB ext4 image, made by the host's mkfs. */
export function makeDisk(file: string): void {
  fs.closeSync(fs.openSync(file, 'w'));
  fs.truncateSync(file, 64 * 1024 * 1024);
  execFileSync('mkfs.ext4', ['-q', '-F', file], { stdio: 'pipe' });
}

/** e2fsck's verdict, and the files the guest wrote, read back with debugfs. */
export function readDisk(file: string, scratch: string, names = ['/random.bin', '/hello.txt', '/dir/seq.txt']): {
  fsck: number; fsckOutput: string; files: Record<string, Buffer>;
} {
  let fsck = 0;
  let fsckOutput: string;
  try {
    fsckOutput = execFileSync('e2fsck', ['-fn', file], { encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    fsck = err.status;
    fsckOutput = `${err.stdout}${err.stderr}`;
  }
  const files: Record<string, Buffer> = {};
  for (const name of names) {
    const out = path.join(scratch, path.basename(name));
    execFileSync('debugfs', ['-R', `dump ${name} ${out}`, file], { stdio: 'pipe' });
    files[name] = fs.readFileSync(out);
  }
  return { fsck, fsckOutput, files };
}

/** <dir>/share (the shared folder) with a link planted out of it, and secrets beside it that must stay unread. */
export function makeShare(dir: string): string {
  const share = path.join(dir, 'share');
  const outside = path.join(dir, 'outside');
  fs.mkdirSync(share);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(dir, 'secret.txt'), SECRET);
  fs.writeFileSync(path.join(outside, 'secret.txt'), SECRET);
  fs.symlinkSync(outside, path.join(share, 'planted-link'));
  return share;
}

/** What the guest's shell did in the share, as the host sees it. */
export function checkShare(dir: string): void {
  const share = path.join(dir, 'share');
  const p = (f: string): string => path.join(share, f);
  assert.equal(fs.readFileSync(p('renamed.txt'), 'utf8'), 'written by the guest\n');
  assert.equal(fs.existsSync(p('new.txt')), false, 'renamed away');
  assert.equal(fs.statSync(p('renamed.txt')).mode & 0o7777, 0o751, 'chmod 0751');
  assert.equal(fs.readlinkSync(p('link-to-renamed')), 'renamed.txt');
  const a = fs.statSync(p('renamed.txt'));
  const b = fs.statSync(p('hard.txt'));
  assert.equal(a.ino, b.ino, 'hard.txt is a hard link');
  assert.equal(a.nlink, 2);
  assert.equal(fs.readFileSync(p('trunc.txt'), 'utf8'), '0123', 'truncate -s 4');
  assert.equal(fs.readFileSync(p('sub/deep.txt'), 'utf8'), 'deep\n');
  assert.match(fs.readFileSync(p('listing.txt'), 'utf8'), /-rwxr-x--x\s+2 .*renamed\.txt/, 'ls -l from the guest');
  assert.equal(fs.readlinkSync(p('out-link')), '../secret.txt', 'the guest may make a link pointing out ...');
  assert.equal(fs.readFileSync(path.join(dir, 'secret.txt'), 'utf8'), SECRET, '... and the secret beside the share is untouched');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['outside', 'secret.txt', 'share'], 'nothing appeared beside the share');
  assert.deepEqual(fs.readdirSync(path.join(dir, 'outside')), ['secret.txt']);
}

/**
 * Listens on <vsock socket>_<port> for the guest's connection: reads to the end and answers
 * "host got <n> bytes: <text>". Resolves with what it got once the guest's connection has closed.
 */
export function vsockAnswerer(socketPath: string, port: number): { server: net.Server; got: Promise<string> } {
  let resolve: (s: string) => void = () => {};
  const got = new Promise<string>((r) => { resolve = r; });
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    const parts: Buffer[] = [];
    sock.on('data', (d: Buffer) => parts.push(d));
    sock.on('end', () => {
      const text = Buffer.concat(parts).toString('utf8');
      sock.end(`host got ${Buffer.byteLength(text)} bytes: ${text.trim()}\n`);
      resolve(text);
    });
    sock.on('error', () => {});
  });
  server.listen(`${socketPath}_${port}`);
  return { server, got };
}

export interface TcpPeer {
  out: OutputWatch;
  kill(): void;
  /** What the peer received (sink) and sent (source), from its JSON lines once each side finished. */
  sums(): { sink: PeerSum; source: PeerSum };
}
export interface PeerSum { sha256: string; bytes: number }

/**
 * test/helpers/tcp-peer.js inside the namespace `ns`: it takes `bytes` from the guest on port 5001 and sends
 * `bytes` on port 5002, then prints each side's SHA-256. Resolves once it listens.
 */
export async function startTcpPeer(ns: string, hostIp: string, bytes: number): Promise<TcpPeer> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, path.join(__dirname, '..', 'helpers', 'tcp-peer.js'),
    hostIp, '5001', '5002', String(bytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = new OutputWatch();
  child.stdout.on('data', (d: Buffer) => out.append(d.toString()));
  child.on('close', (code) => out.end(`tcp-peer ended with status ${code}`));
  const json = (key: string): PeerSum => {
    const found = new RegExp(`\\{"${key}".*\\}`).exec(out.text())?.[0];
    return found === undefined ? { sha256: `(no ${key} line from tcp-peer)`, bytes: -1 }
      : (JSON.parse(found) as Record<string, PeerSum>)[key]!;
  };
  const peer = { out, kill: () => { child.kill(); }, sums: () => ({ sink: json('sink'), source: json('source') }) };
  try {
    await out.waitFor('"ready":true', 60_000);
  } catch (e) {
    child.kill();
    throw e;
  }
  return peer;
}
