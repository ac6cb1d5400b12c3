// Notices a Linux panic in the console stream. The marker can arrive split across chunks, so a short tail of the
// previous chunk is searched with the next; the rest of the panic line is collected as it arrives.
const MARKER = 'Kernel panic - not syncing';
const MAX_LINE = 512;

export class PanicWatch {
  private tail = '';
  private line: string | undefined;
  private complete = false;

  constructor(private readonly onPanic: (line: string) => void) {}

  feed(chunk: Uint8Array): void {
    if (this.complete) return;
    const text = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');
    if (this.line !== undefined) {
      this.extend(text);
      return;
    }
    const joined = this.tail + text;
    const at = joined.indexOf(MARKER);
    if (at < 0) {
      this.tail = joined.slice(-MARKER.length);
      return;
    }
    this.line = '';
    this.extend(joined.slice(at));
    this.onPanic(this.panicLine!);
  }

  private extend(text: string): void {
    const end = text.indexOf('\n');
    this.line = ((this.line ?? '') + (end < 0 ? text : text.slice(0, end))).slice(0, MAX_LINE);
    if (end >= 0 || this.line.length >= MAX_LINE) this.complete = true;
  }

  /** The panic line as far as it has arrived, or undefined when the guest has not panicked. */
  get panicLine(): string | undefined {
    return this.line?.trim();
  }
}
