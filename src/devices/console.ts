// virtio-console (device type 3) with one port: receiveq (0) carries host input to the guest, transmitq (1) the
// guest's output to a sink. With `console=hvc0` it is the Linux console. Input that arrives before the guest has
// posted receive buffers waits, bounded, and the overflow is counted rather than kept without limit.
import { serveQueue, type DeviceContext, type VirtioDevice } from '../virtio-mmio/device';

const RX = 0;
const TX = 1;
const MAX_PENDING_INPUT = 64 * 1024;

export class ConsoleDevice implements VirtioDevice {
  readonly deviceType = 3;
  readonly queueMaxSizes = [64, 64];
  readonly features = 0n;
  private ctx: DeviceContext | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly stats = { outputBytes: 0, inputBytes: 0, droppedInput: 0, errors: 0 };

  constructor(private readonly output: (chunk: Buffer) => void, private readonly onClose?: () => void) {}

  configSpace(): Uint8Array {
    const c = Buffer.alloc(12);
    c.writeUInt16LE(80, 0); // cols
    c.writeUInt16LE(25, 2); // rows
    c.writeUInt32LE(1, 4); // max_nr_ports
    return c;
  }

  activate(ctx: DeviceContext): void {
    this.ctx = ctx;
    this.deliverInput();
  }

  /** Host input for the guest (a terminal, a test). */
  input(bytes: Uint8Array): void {
    const room = MAX_PENDING_INPUT - this.pendingBytes;
    if (bytes.length > room) this.stats.droppedInput += bytes.length - Math.max(room, 0);
    if (room <= 0) return;
    const kept = Buffer.from(bytes.subarray(0, room));
    this.pending.push(kept);
    this.pendingBytes += kept.length;
    this.deliverInput();
  }

  onQueueNotify(queue: number): void {
    if (queue === TX) this.drainOutput();
    else if (queue === RX) this.deliverInput();
  }

  private drainOutput(): void {
    serveQueue(this.ctx, this.ctx?.queues[TX], () => this.stats.errors++, (q) => {
      let any = false;
      for (let chain = q.pop(); chain !== null; chain = q.pop()) {
        for (const b of chain.readable) {
          this.output(Buffer.from(b));
          this.stats.outputBytes += b.length;
        }
        q.pushUsed(chain.head, 0);
        any = true;
      }
      return any;
    });
  }

  private deliverInput(): void {
    if (this.pendingBytes === 0) return;
    serveQueue(this.ctx, this.ctx?.queues[RX], () => this.stats.errors++, (q) => {
      let any = false;
      while (this.pendingBytes > 0) {
        const chain = q.pop();
        if (chain === null) break;
        const written = this.fill(chain.writable);
        q.pushUsed(chain.head, written);
        any = true;
      }
      return any;
    });
  }

  /** Copies pending input into the buffers, front first; returns the bytes written. */
  private fill(bufs: Uint8Array[]): number {
    let written = 0;
    for (const buf of bufs) {
      let at = 0;
      while (at < buf.length && this.pending.length > 0) {
        const head = this.pending[0]!;
        const n = Math.min(head.length, buf.length - at);
        buf.set(head.subarray(0, n), at);
        at += n;
        if (n === head.length) this.pending.shift(); else this.pending[0] = head.subarray(n);
        this.pendingBytes -= n;
        this.stats.inputBytes += n;
      }
      written += at;
    }
    return written;
  }

  reset(): void { this.ctx = undefined; }

  close(): void {
    this.reset();
    this.onClose?.();
  }

  counters(): Record<string, number> { return { ...this.stats }; }
}
