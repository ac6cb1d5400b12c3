// virtio-net's wire facts (virtio 1.2, section 5.1): feature bits, the per-frame header and frame size limits.

export const NET_F = {
  CSUM: 0, GUEST_CSUM: 1, MAC: 5, GUEST_TSO4: 7, GUEST_TSO6: 8, GUEST_ECN: 9, GUEST_UFO: 10,
  HOST_TSO4: 11, HOST_TSO6: 12, HOST_ECN: 13, HOST_UFO: 14, MRG_RXBUF: 15, STATUS: 16,
} as const;

export const has = (features: bigint, bit: number): boolean => (features & (1n << BigInt(bit))) !== 0n;

/**
 * struct virtio_net_hdr as VERSION_1 devices use it: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset,
 * num_buffers. Always 12 bytes, with or without MRG_RXBUF.
 */
export const HDR_BYTES = 12;
export const HDR = { FLAGS: 0, GSO_TYPE: 1, NUM_BUFFERS: 10 } as const;
export const HDR_F = { NEEDS_CSUM: 1, DATA_VALID: 2 } as const;
export const GSO = { NONE: 0, TCPV4: 1, UDP: 3, TCPV6: 4, ECN: 0x80 } as const;

export const STATUS_LINK_UP = 1;

/** An Ethernet frame with a VLAN tag at the standard MTU. */
export const MAX_PLAIN_FRAME = 1514 + 4;
/** A TSO / UFO frame: 64 KiB of IP packet plus the Ethernet and VLAN headers. */
export const MAX_GSO_FRAME = 65535 + 14 + 4;

/** A header byte at `offset` of a frame spread over `segs` (the guest may split the header across buffers). */
export function headerByte(segs: readonly Uint8Array[], offset: number): number {
  for (const s of segs) {
    if (offset < s.length) return s[offset]!;
    offset -= s.length;
  }
  return 0;
}

export function setHeaderByte(segs: readonly Uint8Array[], offset: number, value: number): void {
  for (const s of segs) {
    if (offset < s.length) { s[offset] = value; return; }
    offset -= s.length;
  }
}

/** Most buffers one readv / writev takes (Linux's IOV_MAX). */
export const IOV_MAX = 1024;
