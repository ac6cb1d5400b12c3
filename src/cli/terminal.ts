// The guest console on the user's terminal. With a TTY on stdin the terminal goes to raw mode, so every key
// (Ctrl-C included) reaches the guest, and an escape sequence, as in QEMU and screen, talks to the VMM instead:
//
//   Ctrl-A x        stop the VM
//   Ctrl-A Ctrl-A   send one Ctrl-A to the guest
//   Ctrl-A h (or ?) print this list
//
// Ctrl-A followed by any other key sends both keys to the guest. Piped (non-TTY) input is forwarded untouched,
// with no escape handling, since it may carry any byte. The terminal mode is restored by restore(), on process
// exit, and on a fatal signal when nobody else handles that signal.

export const ESCAPE_KEY = 0x01; // Ctrl-A

export const ESCAPE_HELP =
  '\r\n[tsvmm] Ctrl-A x: stop the VM | Ctrl-A Ctrl-A: send Ctrl-A | Ctrl-A h: this help\r\n';

export interface EscapeResult {
  /** Bytes for the guest. */
  data: Uint8Array;
  /** Ctrl-A x was typed: the VM should stop. Bytes after it are dropped. */
  exit: boolean;
  /** Ctrl-A h / Ctrl-A ? was typed (once or more). */
  help: boolean;
}

/** The escape-sequence state machine, independent of any stream. A Ctrl-A may end one chunk and its key start
 *  the next. */
export class EscapeDecoder {
  private afterEscape = false;
  private exited = false;

  feed(bytes: Uint8Array): EscapeResult {
    const out: number[] = [];
    let help = false;
    if (this.exited) return { data: new Uint8Array(0), exit: false, help };
    for (const b of bytes) {
      if (!this.afterEscape) {
        if (b === ESCAPE_KEY) this.afterEscape = true;
        else out.push(b);
        continue;
      }
      this.afterEscape = false;
      if (b === 0x78 || b === 0x58) { // x, X
        this.exited = true;
        return { data: Uint8Array.from(out), exit: true, help };
      }
      if (b === ESCAPE_KEY) out.push(ESCAPE_KEY);
      else if (b === 0x68 || b === 0x48 || b === 0x3f) help = true; // h, H, ?
      else out.push(ESCAPE_KEY, b);
    }
    return { data: Uint8Array.from(out), exit: false, help };
  }
}

/** The parts of process.stdin attachTerminal uses (a tty.ReadStream when it is a terminal). */
export interface TerminalInput {
  isTTY?: boolean;
  isRaw?: boolean;
  setRawMode?(mode: boolean): unknown;
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  off(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

export interface TerminalOptions {
  /** Default process.stdin. */
  input?: TerminalInput;
  /** Where the escape help goes; default process.stderr. */
  output?: { write(text: string): unknown };
  onInput(bytes: Uint8Array): void;
  onEscape(): void;
}

export interface TerminalHandle {
  /** Whether the terminal was put in raw mode (input is a TTY). */
  readonly raw: boolean;
  /** Puts the terminal back and stops reading; safe to call more than once. */
  restore(): void;
}

const FATAL_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGQUIT'];

export function attachTerminal(opts: TerminalOptions): TerminalHandle {
  const input = opts.input ?? process.stdin;
  const output = opts.output ?? process.stderr;
  const raw = input.isTTY === true && typeof input.setRawMode === 'function';
  const wasRaw = input.isRaw === true;
  const decoder = raw ? new EscapeDecoder() : undefined;
  let restored = false;

  const onData = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    if (!decoder) {
      opts.onInput(bytes);
      return;
    }
    const r = decoder.feed(bytes);
    if (r.data.length > 0) opts.onInput(r.data);
    if (r.help) output.write(ESCAPE_HELP);
    if (r.exit) opts.onEscape();
  };

  const restore = (): void => {
    if (restored) return;
    restored = true;
    input.off('data', onData);
    if (raw) input.setRawMode!(wasRaw);
    input.pause();
    process.off('exit', restore);
    for (const s of FATAL_SIGNALS) process.off(s, onSignal);
  };

  // Only when no one else listens: then the default action (death) is coming, and the terminal must not stay raw.
  // Re-raised after restoring, so the process still ends by that signal.
  function onSignal(signal: NodeJS.Signals): void {
    if (process.listenerCount(signal) > 1) return;
    restore();
    process.kill(process.pid, signal);
  }

  if (raw) {
    input.setRawMode!(true);
    process.on('exit', restore);
    for (const s of FATAL_SIGNALS) process.on(s, onSignal);
  }
  input.on('data', onData);
  input.resume();
  return { raw, restore };
}
