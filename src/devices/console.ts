// virtio-console (device type 3) with one port: receiveq (0) carries host input to the guest, transmitq (1) the
// guest's output to a sink. With `console=hvc0` it is the Linux console. Input that arrives before the guest has
// posted receive buffers waits, bounded, and the overflow is counted rather than kept without limit.
// Output is copied on the main thread: each chain gives at most MAX_OUTPUT bytes and a pass takes chains only while
// its slice of the turn lasts, so a guest posting 4 GiB chains cannot hold the loop (or the host's memory).
import { serveQueue, type DeviceContext, type DeviceHost, type VirtioDevice } from '../virtio-mmio/device';
import { sliceSegments } from '../virtio-mmio/segments';
import { TurnBudget } from './turn-budget';

const RX = 0;
const TX = 1;
const MAX_PENDING_INPUT = 64 * 1024;
/** Linux writes at most 32 KiB per output buffer. */
const MAX_OUTPUT = 64 * 1024;

export class ConsoleDevice implements VirtioDevice {
  readonly deviceType = 3;
  readonly queueMaxSizes = [64, 64];
  readonly features = 0n;
  private ctx: DeviceContext | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly stats = { outputBytes: 0, inputBytes: 0, droppedInput: 0, droppedOutput: 0, errors: 0 };
  private host: DeviceHost | undefined;
  private readonly outputTurns = new TurnBudget(() => this.host, () => this.drainOutput());

  constructor(private readonly output: (chunk: Buffer) => void, private readonly onClose?: () => void) {}

  configSpace(): Uint8Array {
    const c = Buffer.alloc(12);
    c.writeUInt16LE(80, 0); // cols
    c.writeUInt16LE(25, 2); // rows
    c.writeUInt32LE(1, 4); // max_nr_ports
    return c;
  }

  attach(host: DeviceHost): void { this.host = host; }

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
    const turns = this.outputTurns;
    turns.start();
    serveQueue(this.ctx, this.ctx?.queues[TX], () => this.stats.errors++, (q) => {
      let any = false;
      for (let chain = q.pop(); chain !== null; chain = turns.spent() ? null : q.pop()) {
        for (const b of sliceSegments(chain.readable, 0, MAX_OUTPUT)) {
          this.output(Buffer.from(b));
          this.stats.outputBytes += b.length;
        }
        this.stats.droppedOutput += Math.max(0, chain.readableBytes - MAX_OUTPUT);
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

  /** Host input the guest has not taken yet: it goes to the restored guest. */
  snapshotState(): { pendingInput: string } {
    return { pendingInput: Buffer.concat(this.pending).toString('base64') };
  }

  restoreState(state: unknown): void {
    const b64 = (state as { pendingInput?: unknown } | null)?.pendingInput;
    if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new RangeError('pendingInput is not base64');
    const bytes = Buffer.from(b64, 'base64');
    if (bytes.length > MAX_PENDING_INPUT) throw new RangeError(`pendingInput holds more than ${MAX_PENDING_INPUT} bytes`);
    this.pending = bytes.length === 0 ? [] : [bytes];
    this.pendingBytes = bytes.length;
  }

  reset(): void {
    this.outputTurns.cancel();
    this.ctx = undefined;
  }

  close(): void {
    this.reset();
    this.onClose?.();
  }

  counters(): Record<string, number> { return { ...this.stats }; }
}
