// Newline-delimited JSON, the framing of POST /exec/stream in both directions: one JSON value per line. A line
// longer than its limit is an error before it is held whole, so a peer cannot make the reader buffer without end.

/** Splits bytes into lines (without their newline); keeps a partial line until its end arrives. */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxLine: number, private readonly what: string) {}

  /** The whole lines in `chunk` and what came before it. Throws RangeError for a line over the limit. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      this.add(chunk.subarray(start, nl));
      lines.push(Buffer.concat(this.parts, this.size).toString('utf8'));
      this.parts = [];
      this.size = 0;
      start = nl + 1;
    }
    this.add(chunk.subarray(start));
    return lines;
  }

  /** Bytes of a line whose end has not come. */
  get pending(): number {
    return this.size;
  }

  private add(piece: Buffer): void {
    if (piece.length === 0) return;
    this.size += piece.length;
    if (this.size > this.maxLine) throw new RangeError(`${this.what}: a line longer than ${this.maxLine} bytes`);
    this.parts.push(piece);
  }
}

/** One line of JSON text: the value, then a newline. */
export function ndjsonLine(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

/** A line parsed as a JSON object; anything else is a TypeError naming `what`. */
export function parseObjectLine(line: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    throw new TypeError(`${what}: not JSON (${(e as Error).message})`, { cause: e });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError(`${what}: not a JSON object`);
  return v as Record<string, unknown>;
}
