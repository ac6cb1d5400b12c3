// Why a guest could not be loaded. The message names the input at fault (kernel, initrd, cmdline, vcpus, memory)
// and the value, so a user can tell which file or setting to change.

export class BootError extends Error {
  readonly code = 'EBOOT';
  constructor(message: string) {
    super(message);
    this.name = 'BootError';
  }
}

export function hex(n: number | bigint): string {
  return `0x${n.toString(16)}`;
}
