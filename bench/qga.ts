// QEMU's peer for the sandbox rows: Debian's qemu-ga in an initramfs beside busybox, reached over virtio-serial,
// and a small client for its JSON protocol (one object per line each way). qemu-ga is a dynamic binary, so the
// image carries the libraries `ldd` names at the paths the dynamic loader looks for them.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { type CpioEntry, writeNewcArchive } from '../src/guest/cpio';
import { busyboxInitramfsEntries } from '../src/guest/initramfs';
import { ensurePackages } from '../src/guest/packages';
import { BUSYBOX_PATH } from '../src/guest/paths';

const QGA = '/usr/sbin/qemu-ga';
/** The serial port's name; the guest sees its device as /dev/vport<device>p<port>. */
export const QGA_PORT_NAME = 'org.qemu.guest_agent.0';

// busybox init runs rcS (mounts, applet links), then keeps qemu-ga running on the first virtio-serial port.
const INITTAB = `::sysinit:/etc/init.d/rcS
::respawn:/bin/sh /etc/qga.sh
`;
const QGA_SH = `#!/bin/sh
for p in /dev/vport*p1; do exec /usr/sbin/qemu-ga -m virtio-serial -p "$p" -t /tmp -f /tmp/qga.pid; done
echo "qga.sh: no virtio-serial port"; sleep 1
`;

/** The shared libraries `ldd` lists for `binary` (the loader included), as absolute host paths. */
export function sharedLibraries(lddOutput: string): string[] {
  const libs: string[] = [];
  for (const line of lddOutput.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

/** Parent folders of `file` (relative, without a leading slash), outermost first. */
function parents(file: string): string[] {
  const out: string[] = [];
  for (let d = path.posix.dirname(file); d !== '.' && d !== '/'; d = path.posix.dirname(d)) out.unshift(d);
  return out;
}

/** Builds the qemu-ga initramfs into `file` (apt installs qemu-guest-agent and busybox-static when missing). */
export async function buildQgaInitramfs(file: string, log: (line: string) => void): Promise<void> {
  await ensurePackages(['qemu-guest-agent', 'busybox-static'], log);
  const libs = sharedLibraries(execFileSync('ldd', [QGA], { encoding: 'utf8' }));
  const entries: CpioEntry[] = busyboxInitramfsEntries(fs.readFileSync(BUSYBOX_PATH));
  const dirs = new Set(entries.filter((e) => e.type === 'dir').map((e) => e.path));
  const add = (host: string): void => {
    // The loader finds libraries by their path, symlinks resolved: the file goes where ldd says, with its content.
    const rel = host.replace(/^\/+/, '');
    for (const d of parents(rel)) if (!dirs.has(d)) { dirs.add(d); entries.push({ type: 'dir', path: d }); }
    entries.push({ type: 'file', path: rel, data: fs.readFileSync(host), mode: 0o755 });
  };
  for (const lib of [QGA, ...libs]) add(lib);
  entries.push({ type: 'file', path: 'etc/inittab', data: Buffer.from(INITTAB), mode: 0o644 });
  entries.push({ type: 'file', path: 'etc/qga.sh', data: Buffer.from(QGA_SH), mode: 0o755 });
  fs.writeFileSync(file, writeNewcArchive(entries));
}

/** QEMU options for a virtio-serial port named for qemu-ga, on a unix socket QEMU listens on. */
export function qgaDeviceArgs(socket: string): string[] {
  return ['-device', 'virtio-serial-device', '-chardev', `socket,id=qga0,path=${socket},server=on,wait=off`,
    '-device', `virtserialport,chardev=qga0,name=${QGA_PORT_NAME}`];
}

/** One qemu-ga connection: commands go out in order and their answers come back in the same order. */
export class QgaClient {
  private buffered = '';
  private readonly waiting: ((v: unknown) => void)[] = [];
  private failure: Error | undefined;

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buffered += d;
      for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, nl).trim();
        this.buffered = this.buffered.slice(nl + 1);
        if (line) this.answer(line);
      }
    });
    const gone = (e?: Error): void => {
      this.failure = e ?? new Error('qemu-ga: the connection closed');
      for (const w of this.waiting.splice(0)) w(this.failure);
    };
    sock.on('error', gone);
    sock.on('close', () => { gone(); });
  }

  /** Connects to QEMU's socket, trying until it exists (QEMU creates it while starting). */
  static async connect(socket: string, deadline: number): Promise<QgaClient> {
    for (;;) {
      try {
        const s = net.connect(socket);
        await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
        return new QgaClient(s);
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`qemu-ga: no socket at ${socket}`, { cause: e });
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }

  private answer(line: string): void {
    let v: unknown;
    try { v = JSON.parse(line); } catch { return; }
    this.waiting.shift()?.(v);
  }

  /** Sends one command and resolves to its `return` value (an `error` answer rejects). */
  async call(execute: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.failure) throw this.failure;
    const reply = new Promise<unknown>((resolve) => { this.waiting.push(resolve); });
    this.sock.write(JSON.stringify(args ? { execute, arguments: args } : { execute }) + '\n');
    const v = await reply;
    if (v instanceof Error) throw v;
    const o = v as { return?: unknown; error?: { desc?: string } };
    if (o.error) throw new Error(`qemu-ga: ${execute}: ${o.error.desc ?? JSON.stringify(o.error)}`);
    return o.return;
  }

  /**
   * Runs `file` with no arguments to its end: guest-exec, then guest-exec-status until it says exited, as a
   * qemu-ga user does. QEMU holds what the host writes until the guest opens the port, so the first call also
   * waits for the agent to start.
   */
  async run(file: string): Promise<number> {
    const { pid } = await this.call('guest-exec', { path: file }) as { pid: number };
    for (;;) {
      const s = await this.call('guest-exec-status', { pid }) as { exited: boolean; exitcode?: number };
      if (s.exited) return s.exitcode ?? -1;
    }
  }

  close(): void { this.sock.destroy(); }
}
