// A machine's serial console as a Node Duplex: what the guest writes to COM1 comes out of the readable side, what
// is written to the writable side reaches the guest's UART input. A reader that falls behind holds the console:
// the machine drops what the guest writes meanwhile (counted as droppedOutput) rather than buffering without end
// or slowing the guest, and keeps draining the UART, so it still sees a panic. Reading again releases it.
import { Duplex } from 'node:stream';

/** How the console reaches its machine; set once the machine exists. */
export interface ConsolePort {
  hold(): void;
  release(): void;
  /** Queues bytes for the guest; returns how many fitted (the UART's input FIFO is 64 KiB). */
  input(bytes: Uint8Array): number;
}

/** While the guest's input FIFO is full, a write is retried this often. */
const INPUT_RETRY_MS = 10;

export class VmConsole extends Duplex {
  private port: ConsolePort | undefined;
  private held = false;
  private ended = false;
  private pendingWrite: (() => void) | undefined;

  constructor() {
    super({ readableHighWaterMark: 64 * 1024, writableHighWaterMark: 16 * 1024 });
  }

  attach(port: ConsolePort): void {
    this.port = port;
  }

  /** Output from the guest. */
  deliver(chunk: Buffer): void {
    if (this.ended || chunk.length === 0) return;
    if (!this.push(chunk) && !this.held) {
      this.held = true;
      this.port?.hold();
    }
  }

  /** The machine ended: the readable side ends, writes from now on are dropped. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.push(null);
    this.pendingWrite?.();
  }

  override _read(): void {
    if (!this.held) return;
    this.held = false;
    this.port?.release();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    let rest: Uint8Array = chunk;
    const feed = (): void => {
      this.pendingWrite = undefined;
      if (this.ended || !this.port) { cb(); return; }
      rest = rest.subarray(this.port.input(rest));
      if (rest.length === 0) { cb(); return; }
      const timer = setTimeout(feed, INPUT_RETRY_MS);
      this.pendingWrite = () => { clearTimeout(timer); cb(); };
    };
    feed();
  }
}
