// The one error type of the vsock device: what stops it from being set up (its socket path taken, no listener).
// Misbehaving guests and host programs are counted and logged, never thrown.
export class VsockError extends Error {
  constructor(readonly code: 'EEXIST' | 'ELISTEN', message: string) {
    super(message);
    this.name = 'VsockError';
  }
}
