// Signal names and numbers as the guest (x86-64 Linux, like this host) numbers them.
import * as os from 'node:os';

const BY_NUMBER = new Map<number, NodeJS.Signals>();
for (const [name, n] of Object.entries(os.constants.signals)) {
  if (!BY_NUMBER.has(n)) BY_NUMBER.set(n, name as NodeJS.Signals);
}

/** `SIGKILL`, `KILL` or 9 to 9; throws a RangeError naming the bad value. */
export function signalNumber(signal: string | number): number {
  if (typeof signal === 'number') {
    if (!Number.isInteger(signal) || signal < 1 || signal > 64) throw new RangeError(`signal: ${signal} is not 1 to 64`);
    return signal;
  }
  const name = signal.startsWith('SIG') ? signal : `SIG${signal}`;
  const n = (os.constants.signals as Record<string, number | undefined>)[name];
  if (n === undefined) throw new RangeError(`signal: unknown signal ${JSON.stringify(signal)}`);
  return n;
}

/** 9 to `SIGKILL`; a number without a name (a real-time signal) to `SIG<n>`. */
export function signalName(n: number): NodeJS.Signals {
  return BY_NUMBER.get(n) ?? (`SIG${n}` as NodeJS.Signals);
}
