// QEMU's human monitor (HMP) on a unix socket (`-monitor unix:<path>,server=on,wait=off`): one command at a time,
// its answer being what QEMU prints before the next `(qemu) ` prompt.
import * as net from 'node:net';

const PROMPT = '(qemu) ';
const CONNECT_RETRY_MS = 20;

export class QemuMonitor {
  private text = '';
  private waiter: (() => void) | undefined;
  private closedBy: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.text += d.toString('latin1');
      this.waiter?.();
    });
    const ended = (e?: Error): void => {
      this.closedBy ??= e ?? new Error('QEMU monitor: QEMU closed the connection');
      this.waiter?.();
    };
    socket.on('error', ended);
    socket.on('close', () => ended());
  }

  /** Connects once QEMU has made the socket, and reads its greeting; gives up after timeoutMs. */
  static async connect(socketPath: string, timeoutMs: number): Promise<QemuMonitor> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.createConnection(socketPath, () => resolve(s));
          s.once('error', reject);
        });
        const monitor = new QemuMonitor(socket);
        try {
          await monitor.prompt(Math.max(deadline - Date.now(), 1));
        } catch (e) {
          monitor.close();
          throw e;
        }
        return monitor;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, CONNECT_RETRY_MS));
      }
    }
  }

  /** Runs one command; resolves with QEMU's answer (the echoed command line included). */
  async command(line: string, timeoutMs = 10_000): Promise<string> {
    this.socket.write(`${line}\n`);
    return this.prompt(timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }

  /** Everything up to the next prompt. */
  private async prompt(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.text.indexOf(PROMPT);
      if (at >= 0) {
        const answer = this.text.slice(0, at);
        this.text = this.text.slice(at + PROMPT.length);
        return answer;
      }
      if (this.closedBy) throw this.closedBy;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`QEMU monitor: no prompt within ${timeoutMs} ms (got ${JSON.stringify(this.text)})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => { clearTimeout(timer); resolve(); };
      });
      this.waiter = undefined;
    }
  }
}
