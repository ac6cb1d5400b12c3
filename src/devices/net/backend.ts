// Where a virtio-net device's frames go on the host: a tap device in production, any fd that keeps frame
// boundaries (a datagram or seqpacket socket) in tests. Each frame is read and written with its 12-byte
// virtio-net header in front.
import { native } from '../../base/native';
import { has, HDR_BYTES, NET_F } from './virtio-net';

export interface NetBackend {
  /** Nonblocking. */
  readonly fd: number;
  /** The host's name for it (the tap interface), for logs. */
  readonly name: string;
  /** Tells the backend which offloads the guest takes in the frames it receives (the negotiated features). */
  setGuestFeatures(features: bigint): void;
  close(): void;
}

/** A tap that cannot be opened; `code` is the errno of the failure (EPERM, EBUSY, ...). One line, for the user. */
export class TapError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'TapError';
  }
}

/** Name pattern for taps tsvmm creates itself; the kernel replaces %d with the first free number. */
export const TAP_NAME_TEMPLATE = 'tsvmm%d';

/**
 * Attaches to the tap `name` (creating it when it does not exist), or creates a tsvmmN when no name is given.
 * Failures are a TapError saying what to do about it. The interface is left as it is: bringing it up and giving
 * it addresses is the host's configuration, not the VMM's.
 */
export function openTap(name: string | undefined): NetBackend {
  const n = native();
  let tap: { fd: number; name: string };
  try {
    tap = n.tapOpen(name ?? TAP_NAME_TEMPLATE, HDR_BYTES);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new TapError(err.code ?? 'EIO', tapOpenFailure(name, err));
  }
  return {
    fd: tap.fd,
    name: tap.name,
    setGuestFeatures: (features) => n.tapSetOffload(tap.fd, tapOffloads(features)),
    close: () => n.close(tap.fd),
  };
}

function tapOpenFailure(name: string | undefined, e: NodeJS.ErrnoException): string {
  const what = name === undefined ? 'creating a tap' : `tap ${JSON.stringify(name)}`;
  switch (e.code) {
    case 'EPERM':
    case 'EACCES':
      return `${what}: not permitted (${e.code}); it needs root or CAP_NET_ADMIN`;
    case 'EBUSY':
      return `${what}: in use by another process (EBUSY)`;
    case 'EINVAL':
      return `${what}: an interface of that name exists and is not a tap (EINVAL)`;
    case 'ENOENT':
      return `${what}: /dev/net/tun is missing (ENOENT); load the tun module`;
    default:
      return `${what}: ${e.message}`;
  }
}

/** TUN_F_* flags for what the guest accepts, respecting the spec's dependencies (TSO needs checksum offload). */
export function tapOffloads(features: bigint): number {
  const c = native().constants;
  if (!has(features, NET_F.GUEST_CSUM)) return 0;
  let flags = c.TUN_F_CSUM;
  if (has(features, NET_F.GUEST_TSO4)) flags |= c.TUN_F_TSO4;
  if (has(features, NET_F.GUEST_TSO6)) flags |= c.TUN_F_TSO6;
  if (has(features, NET_F.GUEST_ECN) && (flags & (c.TUN_F_TSO4 | c.TUN_F_TSO6))) flags |= c.TUN_F_TSO_ECN;
  return flags;
}
