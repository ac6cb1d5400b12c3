// The device status rules (virtio 1.2, 2.1 and 3.1.1) as one function: what a driver's Status write does. The
// driver sets ACKNOWLEDGE, DRIVER, FEATURES_OK and DRIVER_OK in that order, never clears a bit except by writing 0
// (a reset), and may give up with FAILED at any time. DEVICE_NEEDS_RESET belongs to the device: the driver cannot
// set or clear it, and once it is set (or FAILED is) only a reset or FAILED moves the device on.
import { STATUS } from './registers';

export type StatusOutcome =
  /** Status 0: the register side resets the device. */
  | 'reset'
  /** Nothing new is set: no change, nothing to tell the device. */
  | 'same'
  /** The new status is stored. */
  | 'accept'
  /** FEATURES_OK refused (spec 2.2.2): stored without it; the driver reads it back and gives up or retries. */
  | 'refuse-features'
  /** DRIVER_OK without an accepted FEATURES_OK: the device cannot run, so it says it needs a reset. */
  | 'needs-reset'
  /** A write no driver may make (a bit cleared, a step skipped, reserved bits): no change, counted as bad. */
  | 'ignore';

export interface StatusTransition { outcome: StatusOutcome; next: number }

const { ACKNOWLEDGE: ACK, DRIVER, FEATURES_OK, DRIVER_OK, DEVICE_NEEDS_RESET, FAILED } = STATUS;
const KNOWN = ACK | DRIVER | FEATURES_OK | DRIVER_OK | DEVICE_NEEDS_RESET | FAILED;

/** `featuresAcceptable` is asked only when FEATURES_OK is being set: VERSION_1 taken, nothing unoffered taken. */
export function statusTransition(old: number, written: number, featuresAcceptable: () => boolean): StatusTransition {
  const ignore = { outcome: 'ignore', next: old } as const;
  if (written === 0) return { outcome: 'reset', next: 0 };
  if ((written & ~KNOWN) !== 0) return ignore;
  const wants = written & ~DEVICE_NEEDS_RESET;
  if ((old & ~DEVICE_NEEDS_RESET & ~wants) !== 0) return ignore;
  const added = wants & ~old;
  if (added === 0) return { outcome: 'same', next: old };
  if (added & FAILED) return { outcome: 'accept', next: old | FAILED };
  if (old & (DEVICE_NEEDS_RESET | FAILED)) return ignore;
  const next = old | added;
  if (((next & DRIVER) && !(next & ACK)) || ((next & FEATURES_OK) && !(next & DRIVER))) return ignore;
  // FEATURES_OK must have been accepted, and so read back by the driver, before DRIVER_OK: set together, the
  // driver never checked that the device took its features.
  if ((added & DRIVER_OK) && !(old & FEATURES_OK)) return { outcome: 'needs-reset', next: old | DEVICE_NEEDS_RESET };
  if ((added & FEATURES_OK) && !featuresAcceptable()) return { outcome: 'refuse-features', next: next & ~FEATURES_OK };
  return { outcome: 'accept', next };
}

/** Whether a status lets the device run: features agreed, DRIVER_OK, and neither side has given up. */
export function statusRuns(status: number): boolean {
  return (status & (FEATURES_OK | DRIVER_OK)) === (FEATURES_OK | DRIVER_OK) && (status & (DEVICE_NEEDS_RESET | FAILED)) === 0;
}
