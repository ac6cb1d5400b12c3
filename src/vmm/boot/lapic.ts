// Local APIC wiring as firmware leaves it in virtual-wire mode: LINT0 carries the PIC's interrupts (ExtINT),
// LINT1 the NMI line. Only the delivery-mode field changes; the guest reprograms the rest.
export const APIC_LVT_LINT0 = 0x350;
export const APIC_LVT_LINT1 = 0x360;
/** struct kvm_lapic_state: the 1 KiB register page. */
export const LAPIC_STATE_BYTES = 1024;
export const APIC_MODE_NMI = 0b100;
export const APIC_MODE_EXTINT = 0b111;
const DELIVERY_MODE_MASK = 0x700;

export function withDeliveryMode(lvt: number, mode: number): number {
  return ((lvt & ~DELIVERY_MODE_MASK) | ((mode & 7) << 8)) >>> 0;
}

/** Sets LINT0 to ExtINT and LINT1 to NMI in a kvm_lapic_state buffer, in place; returns the same buffer. */
export function setLintWiring<T extends Uint8Array>(state: T): T {
  if (state.length < LAPIC_STATE_BYTES) {
    throw new RangeError(`LAPIC state is ${state.length} bytes, expected ${LAPIC_STATE_BYTES}`);
  }
  const v = new DataView(state.buffer, state.byteOffset, state.byteLength);
  v.setUint32(APIC_LVT_LINT0, withDeliveryMode(v.getUint32(APIC_LVT_LINT0, true), APIC_MODE_EXTINT), true);
  v.setUint32(APIC_LVT_LINT1, withDeliveryMode(v.getUint32(APIC_LVT_LINT1, true), APIC_MODE_NMI), true);
  return state;
}
