// Notices a Linux panic in the console stream. The line can arrive split across chunks, so a short tail of the
// previous chunk is kept and searched with the next.
const MARKER = 'Kernel panic - not syncing';

export class PanicWatch {
  private tail = '';
  private seen: string | undefined;

  constructor(private readonly onPanic: (line: string) => void) {}

  feed(chunk: Uint8Array): void {
    if (this.seen !== undefined) return;
    const text = this.tail + Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');
    const at = text.indexOf(MARKER);
    if (at >= 0) {
      const end = text.indexOf('\n', at);
      this.seen = text.slice(at, end < 0 ? undefined : end).trim();
      this.onPanic(this.seen);
      return;
    }
    this.tail = text.slice(-MARKER.length);
  }

  get panicLine(): string | undefined {
    return this.seen;
  }
}
