// The net device's counters, which its receive and transmit halves (rx.ts, tx.ts) add to.

export interface NetStats {
  rxFrames: number;
  rxBytes: number;
  /** Frames the guest could not take: too large for its buffers, or with offloads it did not accept. */
  rxDropped: number;
  txFrames: number;
  txBytes: number;
  /** Frames the backend refused (a tap rejects, e.g., a malformed offload header). */
  txDropped: number;
  /** Protocol errors by the guest: malformed chains (each costs its request) and failures (the device). */
  errors: number;
  /** Reads or polls of the backend that failed; receiving stops after one. */
  backendErrors: number;
}
