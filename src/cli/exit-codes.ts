// The exit statuses of `tsvmm`, shown in `--help`. vmm/exit-status.ts maps a machine's end onto the same numbers.

export const EXIT = {
  ok: 0,
  internalError: 1,
  usage: 2,
  guestPanic: 3,
  tripleFault: 4,
  emulationFailure: 5,
  guestHalted: 6,
  sigint: 130,
  sigterm: 143,
} as const;

export const EXIT_CODES_HELP = [
  'Exit status:',
  '  0    the guest powered off or rebooted (or the VM was stopped with Ctrl-A x)',
  '  1    internal error in the VMM (or a host failure such as /dev/kvm missing)',
  '  2    usage or config error',
  '  3    the guest kernel panicked',
  '  4    triple fault (the guest CPU shut down)',
  '  5    KVM could not emulate a guest instruction',
  '  6    the guest halted for good (every vCPU in HLT with interrupts off, as after `halt`; onHalt: wait keeps it)',
  '  130  ended by SIGINT',
  '  143  ended by SIGTERM (any other signal: 128 + its number, e.g. 129 for SIGHUP)',
].join('\n');
