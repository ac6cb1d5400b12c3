// The 8-byte LUN of a virtio-scsi request (virtio 1.2, 5.6.6.1): byte 0 is 1, byte 1 the target, bytes 2-3 a
// single-level LUN (SAM's peripheral device addressing, 00b, for LUNs below 256, or flat space addressing, 01b, as
// Linux writes every LUN), bytes 4-7 zero. Every target has one logical unit, LUN 0.

/** Where a request's LUN points: no target at all, or a target and whether its logical unit exists. */
export type LunAddress =
  | { kind: 'bad-target' }
  | { kind: 'target'; target: number; present: boolean };

const BAD_TARGET: LunAddress = { kind: 'bad-target' };

/** Reads `lun` (8 bytes) against an adapter with `targets` targets. */
export function parseLun(lun: Uint8Array, targets: number): LunAddress {
  if (lun[0] !== 1) return BAD_TARGET; // the REPORT LUNS well-known logical unit (0xc1) is not served
  const target = lun[1]!;
  if (target >= targets) return BAD_TARGET;
  return { kind: 'target', target, present: singleLevelLun(lun) === 0 };
}

/** The LUN bytes 2..7 name, or -1 when they are in no form the device knows (another addressing method, more levels). */
function singleLevelLun(lun: Uint8Array): number {
  for (let i = 4; i < 8; i++) if (lun[i] !== 0) return -1;
  const method = lun[2]! >> 6;
  if (method === 0) return (lun[2]! & 0x3f) === 0 ? lun[3]! : -1; // peripheral: a bus number other than 0 is a bridge
  if (method === 1) return ((lun[2]! & 0x3f) << 8) | lun[3]!;
  return -1;
}
