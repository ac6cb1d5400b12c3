// How a machine's end maps to the process exit status of `tsvmm run` (documented in `tsvmm run --help`).
import type { ExitReason } from './vcpu-protocol';

export interface MachineExit {
  reason: ExitReason;
  detail: string;
  /** The signal that ended the machine, for reason 'signal'. */
  signal?: NodeJS.Signals;
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

export function exitStatus(exit: MachineExit): number {
  switch (exit.reason) {
    case 'poweroff':
    case 'reset':
    case 'stopped':
      return 0;
    case 'panic':
      return 3;
    case 'triple-fault':
      return 4;
    case 'emulation-failure':
      return 5;
    case 'halted':
      return 6;
    case 'signal':
      return 128 + (SIGNAL_NUMBERS[exit.signal ?? 'SIGTERM'] ?? 15);
    case 'internal-error':
    case 'fail-entry':
    case 'error':
      return 1;
  }
}
