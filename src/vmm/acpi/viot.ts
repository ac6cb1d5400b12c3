// The VIOT table (Virtual I/O Translation, ACPI 6.5 section 5.2.32; layout as ACPICA's actbl3.h has it): where the
// virtio-iommu is and which devices sit behind it. A virtio-mmio IOMMU node gives the IOMMU's register window;
// each device behind it is a single-MMIO-endpoint node with its endpoint ID and window, pointing at the IOMMU node.
// Linux matches the IOMMU node to the ACPI device (from the DSDT) that owns its window, and each endpoint node to
// the platform device whose first memory resource starts at its address.
import type { ViotPlatform } from './dsdt';
import { sdt, SDT_HEADER_BYTES } from './tables';

const VIOT_REVISION = 0;
/** node_count, node_offset, 8 reserved bytes. */
const VIOT_FIXED_BYTES = 12;
export const VIOT_NODE = { PCI_RANGE: 1, MMIO: 2, VIRTIO_IOMMU_PCI: 3, VIRTIO_IOMMU_MMIO: 4 } as const;
export const VIOT_IOMMU_MMIO_BYTES = 16;
export const VIOT_MMIO_ENDPOINT_BYTES = 24;
/** Nodes follow the fixed part at once. */
export const VIOT_NODES_OFFSET = SDT_HEADER_BYTES + VIOT_FIXED_BYTES;

export function buildViot(p: ViotPlatform): Uint8Array {
  if (p.endpoints.length + 1 > 0xffff) throw new RangeError('a VIOT holds at most 65535 nodes');
  const body = new Uint8Array(VIOT_FIXED_BYTES + VIOT_IOMMU_MMIO_BYTES + p.endpoints.length * VIOT_MMIO_ENDPOINT_BYTES);
  const v = new DataView(body.buffer);
  v.setUint16(0, p.endpoints.length + 1, true);
  v.setUint16(2, VIOT_NODES_OFFSET, true);
  // The IOMMU node, whose offset (from the table's start) the endpoint nodes name as their output node.
  let at = VIOT_FIXED_BYTES;
  v.setUint8(at, VIOT_NODE.VIRTIO_IOMMU_MMIO);
  v.setUint16(at + 2, VIOT_IOMMU_MMIO_BYTES, true);
  v.setBigUint64(at + 8, BigInt(p.base), true);
  at += VIOT_IOMMU_MMIO_BYTES;
  for (const e of p.endpoints) {
    v.setUint8(at, VIOT_NODE.MMIO);
    v.setUint16(at + 2, VIOT_MMIO_ENDPOINT_BYTES, true);
    v.setUint32(at + 4, e.id, true);
    v.setBigUint64(at + 8, BigInt(e.base), true);
    v.setUint16(at + 16, VIOT_NODES_OFFSET, true);
    at += VIOT_MMIO_ENDPOINT_BYTES;
  }
  return sdt('VIOT', VIOT_REVISION, body);
}
